"""The kernel's share of a broadcast: one send(2) of a small frame on each of many loopback TCP sockets.

Opens CONNECTIONS loopback connections whose far ends a child process reads and discards, then sends a
SIZE-byte binary frame on every socket ROUNDS times from a plain Python loop, and prints the wall time
and the kernel (system) time this process spent per send(2), from getrusage. The kernel time is a floor
for any library that writes each broadcast message to each receiver with its own system call, whatever
language its loop is in (on loopback the sender's system call also runs the receiving TCP stack).

    python tools/send_floor.py [--connections 1000] [--size 32] [--rounds 200]
"""

import argparse
import os
import resource
import select
import socket
import time


def drain(port: int, connections: int) -> None:
    """The child: connects, then reads every socket until the parent closes them all."""
    sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(connections)]
    poller = select.epoll()
    by_fd = {}
    for sock in sockets:
        sock.setblocking(False)
        poller.register(sock.fileno(), select.EPOLLIN)
        by_fd[sock.fileno()] = sock
    while by_fd:
        for fd, _ in poller.poll():
            try:
                data = by_fd[fd].recv(1 << 16)
            except BlockingIOError:
                continue
            if not data:
                poller.unregister(fd)
                del by_fd[fd]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--size", type=int, default=32, help="payload bytes (below 65536)")
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    listener = socket.create_server(("127.0.0.1", 0), backlog=args.connections)
    port = listener.getsockname()[1]
    child = os.fork()
    if child == 0:
        try:
            drain(port, args.connections)
        finally:
            os._exit(0)
    sockets = [listener.accept()[0] for _ in range(args.connections)]
    for sock in sockets:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as asyncio and picows set it
        sock.setblocking(False)
    header = bytes([0x82, args.size]) if args.size < 126 else bytes([0x82, 126]) + args.size.to_bytes(2, "big")
    frame = header + b"x" * args.size
    for sock in sockets:  # warm-up
        sock.send(frame)
    time.sleep(0.5)
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(args.rounds):
        for sock in sockets:
            sock.send(frame)  # the reader keeps up: the socket buffers do not fill
    elapsed, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
    for sock in sockets:
        sock.close()
    os.waitpid(child, 0)
    sends = args.rounds * args.connections
    kernel = after.ru_stime - before.ru_stime
    print(
        f"{args.connections} connections, {len(frame)}-byte frames, {sends:,} sends: per send(2) {elapsed / sends * 1e6:.2f} µs "
        f"wall, {kernel / sends * 1e6:.2f} µs in the kernel; per broadcast {elapsed / args.rounds * 1e3:.2f} ms wall, "
        f"{kernel / args.rounds * 1e3:.2f} ms in the kernel"
    )


if __name__ == "__main__":
    main()
