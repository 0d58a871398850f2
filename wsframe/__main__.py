"""``python -m wsframe [--host 127.0.0.1] [--port 8765] [--subprotocol NAME ...]``: an echo server plus a demo page.

Every WebSocket message is echoed back as it came. ``http://HOST:PORT/`` serves a page that talks to it
(``?selftest=1`` runs a round trip on load and writes the outcome into ``#result``, for the browser
test); ``/stats`` reports the server's figures as JSON. ``--subprotocol`` (repeatable, in order of
preference) names subprotocols the server selects from a client's offer: browsers fail a connection that
offers some when the server selects none. The page offers those given as ``?subprotocol=NAME`` and shows
what was negotiated.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

from . import IMPLEMENTATION
from .asyncio import serve


class EchoStats:
    """The echo server's running figures, served at /stats."""

    def __init__(self) -> None:
        self.connections = 0
        self.open_connections = 0
        self.deflate_connections = 0
        self.messages_received = 0
        self.bytes_received = 0
        self.messages_sent = 0
        self.bytes_sent = 0

    def as_json(self) -> bytes:
        return json.dumps({"implementation": IMPLEMENTATION, **vars(self)}).encode()


async def echo(ws, stats: EchoStats) -> None:
    """Sends every message back as it came, counting them."""
    stats.connections += 1
    stats.open_connections += 1
    stats.deflate_connections += bool(ws.extensions)
    try:
        async for message in ws:
            size = len(message.encode()) if isinstance(message, str) else len(message)
            stats.messages_received += 1
            stats.bytes_received += size
            await ws.send(message)
            stats.messages_sent += 1
            stats.bytes_sent += size
    finally:
        stats.open_connections -= 1


def http_handler(request, stats: EchoStats):
    """The demo page at / and the figures at /stats; 404 elsewhere."""
    path = request.target.partition("?")[0]
    if path == "/":
        return 200, [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")], PAGE.encode()
    if path == "/stats":
        return 200, [("Content-Type", "application/json"), ("Cache-Control", "no-store")], stats.as_json()
    return 404, [], b"not found\n"


async def main(host: str, port: int, subprotocols=()) -> None:
    stats = EchoStats()
    server = await serve(
        lambda ws: echo(ws, stats),
        host,
        port,
        subprotocols=subprotocols,
        http_handler=lambda request: http_handler(request, stats),
    )
    main_task = asyncio.current_task()
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    except (NotImplementedError, RuntimeError):  # not on Windows' loops
        pass
    shown = f"[{host}]" if ":" in host else host
    print(f"wsframe echo server ({IMPLEMENTATION} hot path): http://{shown}:{server.port}/", flush=True)
    async with server:
        try:
            await server.serve_forever()
        except asyncio.CancelledError:
            print("shutting down", flush=True)
    print("closed", flush=True)


def run(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m wsframe", description="wsframe echo server and demo page")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--subprotocol",
        action="append",
        default=[],
        metavar="NAME",
        help="a subprotocol to select from the client's offer (repeatable, in order of preference)",
    )
    args = parser.parse_args(argv)
    try:
        asyncio.run(main(args.host, args.port, args.subprotocol))
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
<tr><td>subprotocol negotiated</td><td id="subprotocol"></td></tr>
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
const offered = new URLSearchParams(location.search).getAll("subprotocol");
const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/", offered);
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
    {checks, extensions: ws.extensions, subprotocol: ws.protocol, received: count.receivedMessages, stats});
}
opened.then(() => {
  $("state").textContent = "open";
  $("extensions").textContent = ws.extensions || "(none)";
  const none = offered.length ? "(none of " + offered.join(", ") + " offered)" : "(none)";
  $("subprotocol").textContent = ws.protocol || none;
  refreshStats();
});
if (new URLSearchParams(location.search).get("selftest") === "1") {
  selftest().catch((error) => { $("result").textContent = "SELFTEST FAILED " + error; });
}
</script></body></html>
"""

if __name__ == "__main__":
    run()
