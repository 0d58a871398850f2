"""wsframe's benchmark server in N worker processes: the echo burst and the broadcast rows with 1 and 2 workers.

``python -m benchmarks.workers N`` runs N workers on one port with ``wsframe.workers.run_workers`` (what
``python -m wsframe --workers N`` runs: SO_REUSEPORT on Linux, the kernel spreading the connections),
prints ``PORT n`` once all listen, then passes each stdin line to every worker over its own loopback
control connection and prints one reply made of theirs (see :func:`combine`). The commands are the
broadcast server's (``go SIZE COUNT``, ``connections``; see fanout.serve_commands) and ``accepted``
(connections accepted so far). Each worker runs wsframe's echo server (the echo family's handler; the
broadcast receivers send nothing, so for them it holds the connection open) and broadcasts to its own
connections on ``go``. The parent stops at stdin EOF or after SERVER_LIFETIME seconds by sending itself
SIGTERM, which run_workers passes on to the workers; a worker also stops when its control connection closes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import threading

from wsframe.workers import run_workers

from . import echo, fanout

CONTROL_TIMEOUT = 30  # seconds for the workers to connect to the parent, once they listen


def combine(replies: list[list[str]]) -> str:
    """The parent's reply made of each worker's ``WORD value``: ``START`` and the earliest value (when the
    first worker began a broadcast); any other word, the sum and then each worker's value."""
    if not all(len(reply) == 2 for reply in replies) or len({reply[0] for reply in replies}) != 1:
        raise RuntimeError(f"the workers did not give one kind of reply: {replies}")
    word, values = replies[0][0], [int(reply[1]) for reply in replies]
    if word == "START":
        return f"START {min(values)}"
    return f"{word} {sum(values)} {' '.join(map(str, values))}"


def _stop_this_process() -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # run_workers' handler: it stops the workers and returns


def _relay(controls: list[socket.socket]) -> None:
    """Each stdin line to every worker, their combined reply to stdout; at EOF (or a failure) the stop."""
    replies = [control.makefile("r", encoding="ascii") for control in controls]
    try:
        for line in sys.stdin:
            for control in controls:
                control.sendall(line.encode("ascii"))
            print(combine([reply.readline().split() for reply in replies]), flush=True)
    finally:
        _stop_this_process()


async def _work(sock: socket.socket, ready, control_port: int) -> None:
    reader, writer = await asyncio.open_connection(echo.HOST, control_port)
    accepted = 0

    async def handler(ws):
        nonlocal accepted
        accepted += 1
        await echo.echo_messages(ws)

    _port, connected, send_all, close = await fanout.wsframe_server(sock, handler)
    ready()

    async def commands():
        async for line in reader:
            yield line.decode("ascii").split()

    def reply(line: str) -> None:
        writer.write(line.encode("ascii") + b"\n")

    counts = {"connections": connected, "accepted": lambda: accepted}
    await fanout.serve_commands(send_all, commands(), reply, counts)
    await echo.close_server(close)


def serve_worker(sock: socket.socket, ready, control_port: int) -> None:
    """One worker (run_workers' target): the server on ``sock`` until its control connection closes or SIGTERM."""
    echo.run_on_new_loop(_work(sock, ready, control_port))


def main(argv: list[str] | None = None) -> int:
    [count] = argv if argv is not None else sys.argv[1:]
    fanout._raise_open_files_limit()  # before the workers start: they inherit it
    control = socket.create_server((echo.HOST, 0), backlog=int(count))
    control.settimeout(CONTROL_TIMEOUT)

    def on_ready(port: int, pids: list[int]) -> None:
        controls = [control.accept()[0] for _ in pids]  # each worker connected before it was ready
        threading.Thread(target=_relay, args=(controls,), daemon=True).start()
        lifetime = threading.Timer(echo.SERVER_LIFETIME, _stop_this_process)
        lifetime.daemon = True
        lifetime.start()
        print(f"PORT {port}", flush=True)

    try:
        return run_workers(int(count), serve_worker, echo.HOST, 0, args=(control.getsockname()[1],), on_ready=on_ready)
    finally:
        control.close()


if __name__ == "__main__":
    sys.exit(main())
