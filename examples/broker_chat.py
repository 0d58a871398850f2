"""A chat room across workers and machines: wsframe broadcasts within a process, Redis pub/sub between them.

wsframe's codec and ``broadcast`` are per process: a worker knows only its own connections. So every
process (each ``--workers`` worker, or servers on other machines) publishes what its clients send on
one Redis channel and broadcasts what the channel delivers, from every process and this one too, to its
own participants. The broker carries the fan-out between processes and gives the channel one order that
every process sees. Redis pub/sub delivers at most once: a process that loses its subscription misses
what was published meanwhile (Redis Streams keep a history to catch up from).

    redis-server &
    python examples/broker_chat.py --port 8001 &
    python examples/broker_chat.py --port 8002     # clients of either port chat together

The Redis client is the few lines of RESP that PUBLISH and SUBSCRIBE need, so that the example stays
stdlib-only; a real application would use redis-py's asyncio client.
"""

from __future__ import annotations

import argparse
import asyncio

from wsframe.asyncio import broadcast, serve


async def read_reply(reader: asyncio.StreamReader):
    """One RESP reply: bytes for bulk strings, int, str for simple strings, list for arrays."""
    line = (await reader.readuntil(b"\r\n"))[:-2]
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(f"Redis: {rest.decode()}")
    if kind == b":":
        return int(rest)
    if kind == b"$":
        length = int(rest)
        return None if length < 0 else (await reader.readexactly(length + 2))[:-2]
    if kind == b"*":
        return [await read_reply(reader) for _ in range(int(rest))]
    raise RuntimeError(f"Redis: unexpected reply {line[:40]!r}")


def command(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(arg), arg) for arg in args)


class RedisChannel:
    """One Redis pub/sub channel: ``publish(data)`` on one connection, ``messages()`` from another (a
    subscribed Redis connection takes no other commands)."""

    def __init__(self, name: str, host: str = "127.0.0.1", port: int = 6379) -> None:
        self.name = name.encode()
        self.address = (host, port)
        self._publisher = None
        self._lock = asyncio.Lock()  # one PUBLISH and its reply at a time

    async def publish(self, data: bytes) -> None:
        async with self._lock:
            if self._publisher is None:
                self._publisher = await asyncio.open_connection(*self.address)
            reader, writer = self._publisher
            writer.write(command(b"PUBLISH", self.name, data))
            await read_reply(reader)  # how many subscribers got it

    async def subscribe(self):
        """Subscribes, then returns an async iterator over the channel's messages from now on."""
        reader, writer = await asyncio.open_connection(*self.address)
        writer.write(command(b"SUBSCRIBE", self.name))
        await read_reply(reader)  # [b"subscribe", channel, 1]: from here on, nothing published is missed
        return self._messages(reader, writer)

    async def _messages(self, reader, writer):
        try:
            while True:
                kind, _channel, data = await read_reply(reader)
                if kind == b"message":
                    yield data
        finally:
            writer.close()

    async def close(self) -> None:
        if self._publisher is not None:
            self._publisher[1].close()


class BrokerChat:
    """The chat room of one process: its participants, and the relay from the channel to them."""

    def __init__(self, channel: RedisChannel) -> None:
        self.channel = channel
        self.participants: set = set()

    async def handler(self, ws) -> None:
        self.participants.add(ws)
        try:
            async for message in ws:
                if isinstance(message, str):
                    await self.channel.publish(message.encode())  # not broadcast here: it comes back from Redis
        finally:
            self.participants.discard(ws)

    async def relay(self, subscribed: asyncio.Event | None = None) -> None:
        """Broadcasts every message of the channel to this process's participants (until cancelled)."""
        messages = await self.channel.subscribe()
        if subscribed is not None:
            subscribed.set()
        async for data in messages:
            broadcast(self.participants, data.decode())


async def main(host: str, port: int, redis_host: str, redis_port: int) -> None:
    chat = BrokerChat(RedisChannel("chat", redis_host, redis_port))
    async with await serve(chat.handler, host, port) as server:
        relay = asyncio.ensure_future(chat.relay())
        print(f"chat on ws://{host}:{server.port}/ through Redis at {redis_host}:{redis_port}", flush=True)
        try:
            await server.serve_forever()
        finally:
            relay.cancel()
            await chat.channel.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--redis", default="127.0.0.1:6379", help="HOST:PORT of the Redis server")
    args = parser.parse_args()
    redis_host, _, redis_port = args.redis.rpartition(":")
    try:
        asyncio.run(main(args.host, args.port, redis_host, int(redis_port)))
    except KeyboardInterrupt:
        pass
