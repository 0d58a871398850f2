"""The examples run as documented: ``examples/broker_chat.py``, a chat across two servers through Redis
pub/sub (``redis-server`` on PATH, started here on a free loopback port; skipped when it is missing)."""

import asyncio
import importlib.util
import os
import shutil
import socket
import subprocess
import time

import pytest

from wsframe.asyncio import connect, serve

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "examples", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def redis_port(tmp_path):
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("WSFRAME_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server is not installed (apt-get install -y redis-server)")
        pytest.skip("redis-server is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None, "redis-server did not start"
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(10)


def test_broker_chat_reaches_the_participants_of_every_server(redis_port):
    example = load_example("broker_chat")

    async def main():
        chats = [example.BrokerChat(example.RedisChannel("chat", "127.0.0.1", redis_port)) for _ in range(2)]
        servers = [await serve(chat.handler, "127.0.0.1", 0) for chat in chats]
        subscribed = [asyncio.Event() for _ in chats]
        relays = [asyncio.ensure_future(chat.relay(ready)) for chat, ready in zip(chats, subscribed)]
        try:
            for ready in subscribed:
                await asyncio.wait_for(ready.wait(), 10)
            clients = [await connect(f"ws://127.0.0.1:{server.port}/") for server in servers for _ in range(2)]
            received = [[] for _ in clients]

            async def receive(number, count):
                for _ in range(count):
                    received[number].append(await asyncio.wait_for(clients[number].recv(), 10))

            await clients[0].send("hello from server 1")
            await receive(0, 1)  # published: what is sent next comes after it on the channel
            await clients[3].send("hello from server 2, ünïcödé")
            await asyncio.gather(receive(0, 1), receive(1, 2), receive(2, 2), receive(3, 2))
            expected = ["hello from server 1", "hello from server 2, ünïcödé"]
            assert received == [expected] * 4
            for client in clients:
                await client.close()
        finally:
            for relay in relays:
                relay.cancel()
            for chat, server in zip(chats, servers):
                await chat.channel.close()
                await server.close()

    asyncio.run(asyncio.wait_for(main(), 30))
