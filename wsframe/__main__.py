"""``python -m wsframe [--host 127.0.0.1] [--port 8765] [--workers N]``: an echo server, a chat room and
a demo page.

WebSocket paths: ``/chat`` is a chat room (every text message is broadcast, as JSON, to every
participant of this worker, with the participant count on every join and leave); any other path echoes
each message back as it came (``?compression=off`` declines permessage-deflate). ``http://HOST:PORT/``
serves the demo page (chat, a live round-trip latency chart, an echo burst, what was negotiated);
``/stats`` reports the server's figures as JSON. ``--workers N`` runs N server processes on the port
(see :mod:`wsframe.workers`); each has its own chat room.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import signal
from urllib.parse import parse_qs, urlsplit

from . import IMPLEMENTATION
from .asyncio import ConnectionClosed, broadcast, serve
from .deflate import PerMessageDeflate
from .workers import run_workers

MAX_CHAT_TEXT = 2000  # characters of a chat message passed on

# Echo connections keep their context (better compression for one peer); the chat room's does not, so
# that each broadcast is compressed once for every participant (see wsframe.broadcast).
ECHO_COMPRESSION = PerMessageDeflate()
CHAT_COMPRESSION = PerMessageDeflate(server_no_context_takeover=True)


class DemoStats:
    """The server's running figures, served at /stats."""

    def __init__(self, workers: int) -> None:
        self.pid = os.getpid()
        self.workers = workers
        self.connections = 0
        self.open_connections = 0
        self.deflate_connections = 0
        self.messages_received = 0
        self.bytes_received = 0
        self.messages_sent = 0
        self.bytes_sent = 0
        self.chat_participants = 0

    def as_json(self) -> bytes:
        return json.dumps({"implementation": IMPLEMENTATION, **vars(self)}).encode()


def path_of(target: str) -> str:
    return urlsplit(target).path


def choose_compression(request):
    """Per request: none for ``?compression=off``, no context takeover for the chat room."""
    if parse_qs(urlsplit(request.target).query).get("compression") == ["off"]:
        return None
    return CHAT_COMPRESSION if path_of(request.target) == "/chat" else ECHO_COMPRESSION


def negotiated(ws) -> dict:
    parameters = ws.connection.deflate_parameters
    return {
        "subprotocol": ws.subprotocol,
        "extensions": ws.extensions,
        "deflate": dataclasses.asdict(parameters) if parameters is not None else None,
    }


async def echo(ws, stats: DemoStats) -> None:
    """Sends every message back as it came, counting them."""
    async for message in ws:
        size = len(message.encode()) if isinstance(message, str) else len(message)
        stats.messages_received += 1
        stats.bytes_received += size
        await ws.send(message)
        stats.messages_sent += 1
        stats.bytes_sent += size


class ChatRoom:
    """This worker's chat room: every text message goes to every participant, encoded once."""

    def __init__(self, stats: DemoStats) -> None:
        self.stats = stats
        self.participants: dict = {}  # WebSocket -> its name
        self.joined = 0

    def broadcast(self, event: dict) -> None:
        message = json.dumps(event)
        receivers = broadcast(self.participants, message)
        self.stats.messages_sent += receivers
        self.stats.bytes_sent += receivers * len(message.encode())

    async def join(self, ws) -> None:
        self.joined += 1
        name = f"guest {self.joined}"
        self.participants[ws] = name
        self.stats.chat_participants = len(self.participants)
        await ws.send(json.dumps({"type": "welcome", "you": name, "negotiated": negotiated(ws)}))
        self.broadcast({"type": "participants", "count": len(self.participants), "joined": name})
        try:
            async for text in ws:
                self.stats.messages_received += 1
                if isinstance(text, str):
                    self.stats.bytes_received += len(text.encode())
                    self.broadcast({"type": "chat", "from": name, "text": text[:MAX_CHAT_TEXT]})
        except ConnectionClosed:
            pass
        finally:
            del self.participants[ws]
            self.stats.chat_participants = len(self.participants)
            self.broadcast({"type": "participants", "count": len(self.participants), "left": name})


async def handler(ws, stats: DemoStats, room: ChatRoom) -> None:
    stats.connections += 1
    stats.open_connections += 1
    stats.deflate_connections += bool(ws.extensions)
    try:
        if path_of(ws.request.target) == "/chat":
            await room.join(ws)
        else:
            await echo(ws, stats)
    finally:
        stats.open_connections -= 1


def http_handler(request, stats: DemoStats):
    """The demo page at / and the figures at /stats; 404 elsewhere."""
    path = path_of(request.target)
    if path == "/":
        return 200, [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")], PAGE.encode()
    if path == "/stats":
        return 200, [("Content-Type", "application/json"), ("Cache-Control", "no-store")], stats.as_json()
    return 404, [], b"not found\n"


async def main(host, port, *, sock=None, workers: int = 1, on_ready=None) -> None:
    """Serves until cancelled or SIGTERM; prints the address (or calls ``on_ready()``) once listening."""
    stats = DemoStats(workers)
    room = ChatRoom(stats)
    server = await serve(
        lambda ws: handler(ws, stats, room),
        host,
        port,
        sock=sock,
        compression=choose_compression,
        http_handler=lambda request: http_handler(request, stats),
    )
    main_task = asyncio.current_task()
    loop = asyncio.get_running_loop()

    def stop() -> None:
        loop.add_signal_handler(signal.SIGTERM, lambda: None)  # once: a second one must not cut the shutdown
        main_task.cancel()

    try:
        loop.add_signal_handler(signal.SIGTERM, stop)
    except (NotImplementedError, RuntimeError):  # not on Windows' loops
        pass
    if on_ready is not None:
        on_ready()
    else:
        print(f"wsframe demo server ({IMPLEMENTATION} hot path): {address(host, server.port)}", flush=True)
    async with server:
        try:
            await server.serve_forever()
        except asyncio.CancelledError:
            print("shutting down", flush=True)
    print("closed", flush=True)


def address(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve_worker(sock, ready, workers: int) -> None:
    """One of ``--workers N``: serves on ``sock`` until SIGTERM."""
    asyncio.run(main(None, None, sock=sock, workers=workers, on_ready=ready))


def run(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m wsframe", description="wsframe echo server, chat and demo page")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=1, help="server processes on the port (default 1)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.workers > 1:

        def announce(port, pids):
            print(
                f"wsframe demo server ({IMPLEMENTATION} hot path, {args.workers} workers, pids "
                f"{' '.join(map(str, pids))}): {address(args.host, port)}",
                flush=True,
            )

        status = run_workers(args.workers, serve_worker, args.host, args.port, args=(args.workers,), on_ready=announce)
        print("all workers stopped", flush=True)
        raise SystemExit(status)
    try:
        asyncio.run(main(args.host, args.port))
    except KeyboardInterrupt:
        pass


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>wsframe echo</title>
<style>
body{font:15px system-ui,sans-serif;max-width:46em;margin:2em auto;padding:0 1em}
input{width:60%;font:inherit} button{font:inherit;margin:.2em}
table{border-collapse:collapse;margin:1em 0} td{padding:.15em .8em;border-bottom:1px solid #ddd}
#log{font:13px monospace;white-space:pre-wrap;border:1px solid #ccc;padding:.5em;height:14em;overflow:auto}
</style></head><body>
<h1>wsframe echo</h1>
<form id="form"><input id="text" placeholder="type a message" autofocus> <button>Send</button></form>
<button id="large">Send 1 MiB text</button> <button id="binary">Send 64 KiB binary</button>
<table>
<tr><td>state</td><td id="state">connecting</td></tr>
<tr><td>sent</td><td id="sent">0 messages, 0 bytes</td></tr>
<tr><td>received</td><td id="received">0 messages, 0 bytes</td></tr>
<tr><td>extensions (browser side)</td><td id="extensions"></td></tr>
<tr><td>server</td><td id="server"></td></tr>
</table>
<pre id="result"></pre>
<div id="log"></div>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const encoder = new TextEncoder();
const count = {sentMessages: 0, sentBytes: 0, receivedMessages: 0, receivedBytes: 0};
const waiters = [];
const size = (data) => typeof data === "string" ? encoder.encode(data).length : data.byteLength;
const preview = (data) => typeof data === "string"
  ? (data.length > 60 ? JSON.stringify(data.slice(0, 60)) + "... (" + data.length + " chars)" : JSON.stringify(data))
  : "binary, " + data.byteLength + " bytes";
function log(line) { const el = $("log"); el.textContent += line + "\\n"; el.scrollTop = el.scrollHeight; }
function show() {
  $("sent").textContent = count.sentMessages + " messages, " + count.sentBytes + " bytes";
  $("received").textContent = count.receivedMessages + " messages, " + count.receivedBytes + " bytes";
}
async function refreshStats() {
  const stats = await (await fetch("/stats", {cache: "no-store"})).json();
  $("server").textContent = stats.implementation + " hot path; " + stats.messages_received + " messages / "
    + stats.bytes_received + " bytes in, " + stats.messages_sent + " messages / " + stats.bytes_sent
    + " bytes out; permessage-deflate on " + stats.deflate_connections + " of " + stats.connections + " connections";
  return stats;
}
const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/");
ws.binaryType = "arraybuffer";
const opened = new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
ws.onclose = (event) => { $("state").textContent = "closed (" + event.code + ")"; };
ws.onmessage = (event) => {
  count.receivedMessages += 1; count.receivedBytes += size(event.data); show();
  log("echo: " + preview(event.data));
  if (waiters.length) waiters.shift()(event.data);
};
function send(data) {
  ws.send(data); count.sentMessages += 1; count.sentBytes += size(data); show();
  log("sent: " + preview(data));
  return new Promise((resolve) => waiters.push(resolve));
}
const largeText = () => "wsframe ".repeat(131072);
const binary = () => {
  const bytes = new Uint8Array(65536);
  for (let i = 0; i < bytes.length; i++) bytes[i] = i * 7 & 255;
  return bytes.buffer;
};
$("form").onsubmit = (event) => { event.preventDefault(); send($("text").value); $("text").value = ""; };
$("large").onclick = () => send(largeText()).then(refreshStats);
$("binary").onclick = () => send(binary()).then(refreshStats);
setInterval(() => { if (ws.readyState === 1) refreshStats(); }, 2000);
async function selftest() {
  await opened;
  const same = (a, b) => a.byteLength === b.byteLength && new Uint8Array(a).every((x, i) => x === new Uint8Array(b)[i]);
  const checks = [];
  checks.push(await send("selftest-hello") === "selftest-hello");
  const text = largeText();
  checks.push(await send(text) === text);
  const bytes = binary();
  checks.push(same(await send(bytes), bytes));
  const stats = await refreshStats();
  const ok = checks.every(Boolean) && stats.messages_received >= 3;
  $("result").textContent = (ok ? "SELFTEST OK " : "SELFTEST FAILED ") + JSON.stringify(
    {checks, extensions: ws.extensions, received: count.receivedMessages, stats});
}
opened.then(() => {
  $("state").textContent = "open";
  $("extensions").textContent = ws.extensions || "(none)";
  refreshStats();
});
if (new URLSearchParams(location.search).get("selftest") === "1") {
  selftest().catch((error) => { $("result").textContent = "SELFTEST FAILED " + error; });
}
</script></body></html>
"""

if __name__ == "__main__":
    run()
