"""N server processes on one port, like uvicorn's ``--workers``: every core serves connections.

On Linux each worker listens on its own socket bound with ``SO_REUSEPORT``, and the kernel spreads new
connections over them; elsewhere (where ``SO_REUSEPORT`` does not balance, or is missing) the workers
share one listening socket made by the parent and take turns accepting from it. Each worker is a whole
server with its own event loop and its own connections: a broadcast reaches the connections of one
worker. (A chat across workers or machines puts a message broker, e.g. Redis pub/sub, between them:
each worker publishes what its clients send and broadcasts what it receives; see the README.)

The parent starts the workers, waits until each listens, calls ``on_ready(port, pids)``, and then waits
for Ctrl-C (SIGINT) or SIGTERM, which it passes on to every worker as SIGTERM: each one closes its
connections with 1001 (going away) and exits. Workers ignore SIGINT, so that Ctrl-C in a terminal (sent
to the whole process group) is handled once, by the parent. If a worker dies on its own the others are
stopped too and the exit status is 1.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import queue
import signal
import socket
import sys
import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    import multiprocessing.queues
    from collections.abc import Callable

__all__ = ["run_workers", "bind_socket", "BALANCED_REUSE_PORT"]

# Where SO_REUSEPORT spreads connections over the sockets (macOS has the option but does not balance).
BALANCED_REUSE_PORT = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")
BACKLOG = 1024
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0  # per worker, after SIGTERM: its close_timeout, and then its handlers


def bind_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` (not listening yet)."""
    [(family, kind, proto, _, address), *_] = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    sock = socket.socket(family, kind, proto)
    try:
        if os.name == "posix":  # on Windows SO_REUSEADDR would let another process take the port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def _worker(
    target: Callable[..., object],
    args: tuple[object, ...],
    host: str,
    port: int,
    shared: socket.socket | None,
    ready: multiprocessing.queues.Queue[int],
) -> None:
    # Not the parent's handlers (a fork inherits them): Ctrl-C is the parent's, SIGTERM stops the target.
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sock = shared if shared is not None else bind_socket(host, port, reuse_port=True)
    sock.listen(BACKLOG)
    target(sock, lambda: ready.put(os.getpid()), *args)


def run_workers(
    count: int,
    target: Callable[..., object],
    host: str,
    port: int,
    *,
    args: tuple[object, ...] = (),
    on_ready: Callable[[int, list[int]], object] | None = None,
) -> int:
    """Runs ``target(sock, ready, *args)`` in ``count`` processes, each serving on a listening ``sock``
    for ``host``:``port`` (0: a free port, the same for all) and calling ``ready()`` once it accepts
    connections; ``target`` must stop (return) on SIGTERM. Returns the exit status: 0 after a stop by
    signal, 1 if a worker died on its own or did not start. ``target`` and ``args`` must be picklable."""
    if count < 1:
        raise ValueError("count must be at least 1")
    reuse_port = BALANCED_REUSE_PORT
    # With SO_REUSEPORT this socket only holds the port until the workers listen on theirs.
    placeholder = bind_socket(host, port, reuse_port=reuse_port)
    port = placeholder.getsockname()[1]
    shared = None
    if not reuse_port:
        placeholder.listen(BACKLOG)
        shared = placeholder
    stop_requested = []
    wakeup_reader, wakeup_writer = socket.socketpair()
    wakeup_reader.setblocking(False)
    wakeup_writer.setblocking(False)
    previous = {
        sig: signal.signal(sig, lambda signum, _frame: stop_requested.append(signum))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    previous_wakeup = signal.set_wakeup_fd(wakeup_writer.fileno())
    context = multiprocessing.get_context()
    ready = context.Queue()
    worker_args = (target, args, host, port, shared, ready)
    workers = [context.Process(target=_worker, args=worker_args, daemon=True) for _ in range(count)]
    status = 1
    try:
        for worker in workers:
            worker.start()
        pids: list[int] = []
        deadline = time.monotonic() + READY_TIMEOUT
        while len(pids) < count and not stop_requested:
            if time.monotonic() > deadline or not all(worker.is_alive() for worker in workers):
                return 1  # a worker failed to start
            try:
                pids.append(ready.get(timeout=0.1))
            except queue.Empty:
                pass
        if reuse_port:
            placeholder.close()  # the workers listen on theirs
        if on_ready is not None and not stop_requested:
            on_ready(port, pids)
        sentinels = [worker.sentinel for worker in workers]
        while not stop_requested and all(worker.is_alive() for worker in workers):
            multiprocessing.connection.wait([*sentinels, wakeup_reader])
            try:
                wakeup_reader.recv(4096)
            except BlockingIOError:
                pass
        status = 0 if stop_requested else 1
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()  # SIGTERM: a graceful stop
        for worker in workers:
            worker.join(STOP_TIMEOUT)
            if worker.is_alive():
                worker.kill()
                worker.join()
        signal.set_wakeup_fd(previous_wakeup)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sock in (placeholder, wakeup_reader, wakeup_writer):
            sock.close()
    return status
