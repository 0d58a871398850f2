"""``python -m wsframe [--host 127.0.0.1] [--port 8765] [--workers N] [--max-message-size N] ...``: an echo
server, a chat room and a demo page (``--help`` lists the options; ``tools/soak.py`` drives them).

WebSocket paths: ``/chat`` is a chat room (every text message is broadcast, as JSON, to every
participant of this worker, with the participant count on every join and leave); any other path echoes
each message back as it came (``?compression=off`` declines permessage-deflate). ``http://HOST:PORT/``
serves the demo page (chat, a live round-trip latency chart, an echo burst, what was negotiated);
``/stats`` reports the server's figures as JSON. ``--workers N`` runs N server processes on the port
(see :mod:`wsframe.workers`); each has its own chat room. ``--subprotocol NAME`` (repeatable, in order of
preference) names subprotocols to select from a client's offer: browsers fail a connection that offers
some when the server selects none. The page offers those given as ``?subprotocol=NAME``.
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
from .asyncio.protocol import DEFAULT_MAX_QUEUE
from .connection import DEFAULT_MAX_MESSAGE_SIZE
from .deflate import PerMessageDeflate
from .workers import run_workers

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    import socket
    from collections.abc import Awaitable, Callable, Sequence
    from typing import Any

    from .asyncio import WebSocket
    from .events import Request
    from .handshake import HTTPRequest

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


def choose_compression(request: Request) -> PerMessageDeflate | None:
    """Per request: none for ``?compression=off``, no context takeover for the chat room."""
    if parse_qs(urlsplit(request.target).query).get("compression") == ["off"]:
        return None
    return CHAT_COMPRESSION if path_of(request.target) == "/chat" else ECHO_COMPRESSION


def negotiated(ws: WebSocket) -> dict[str, object]:
    parameters = ws.connection.deflate_parameters
    return {
        "subprotocol": ws.subprotocol,
        "extensions": ws.extensions,
        "deflate": dataclasses.asdict(parameters) if parameters is not None else None,
    }


async def echo(ws: WebSocket, stats: DemoStats) -> None:
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
        self.participants: dict[WebSocket, str] = {}  # the name of each
        self.joined = 0

    def broadcast(self, event: dict[str, object]) -> None:
        message = json.dumps(event)
        receivers = broadcast(self.participants, message)
        self.stats.messages_sent += receivers
        self.stats.bytes_sent += receivers * len(message.encode())

    async def join(self, ws: WebSocket) -> None:
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


async def handler(ws: WebSocket, stats: DemoStats, room: ChatRoom) -> None:
    stats.connections += 1
    stats.open_connections += 1
    stats.deflate_connections += bool(ws.extensions)
    try:
        if path_of(ws.request.target) == "/chat":  # type: ignore[union-attr]  # a server's: it has a request
            await room.join(ws)
        else:
            await echo(ws, stats)
    finally:
        stats.open_connections -= 1


def http_handler(request: HTTPRequest, stats: DemoStats) -> tuple[int, list[tuple[str, str]], bytes]:
    """The demo page at / and the figures at /stats; 404 elsewhere."""
    path = path_of(request.target)
    if path == "/":
        return 200, [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")], PAGE.encode()
    if path == "/stats":
        return 200, [("Content-Type", "application/json"), ("Cache-Control", "no-store")], stats.as_json()
    return 404, [], b"not found\n"


def delayed_accept(seconds: float) -> Callable[[Request], Awaitable[None]]:
    """A process_request that waits before accepting, as one that authenticates would."""

    async def process_request(request: Request) -> None:
        await asyncio.sleep(seconds)

    return process_request


async def main(
    host: str | None,
    port: int | None,
    *,
    sock: socket.socket | None = None,
    workers: int = 1,
    on_ready: Callable[[], object] | None = None,
    accept_delay: float = 0.0,
    **limits: Any,
) -> None:
    """Serves until cancelled, SIGTERM or Ctrl-C; prints the address (or calls ``on_ready()``) once
    listening. ``limits``: serve()'s max_message_size, max_queue and subprotocols."""
    stats = DemoStats(workers)
    room = ChatRoom(stats)
    server = await serve(
        lambda ws: handler(ws, stats, room),
        host,
        port,  # type: ignore[arg-type]  # None only with sock
        sock=sock,
        compression=choose_compression,
        process_request=delayed_accept(accept_delay) if accept_delay > 0 else None,
        http_handler=lambda request: http_handler(request, stats),
        **limits,
    )
    main_task = asyncio.current_task()
    loop = asyncio.get_running_loop()

    def stop() -> None:
        loop.add_signal_handler(signal.SIGTERM, lambda: None)  # once: a second one must not cut the shutdown
        if handle_ctrl_c:
            loop.remove_signal_handler(signal.SIGINT)  # a second Ctrl-C interrupts the shutdown
        main_task.cancel()  # type: ignore[union-attr]  # main runs in a task

    # Ctrl-C too goes through the loop. Python 3.10's asyncio.run leaves it to KeyboardInterrupt, which can
    # strike inside any callback (a connection_lost half run) and leave the shutdown waiting for ever.
    # Workers ignore SIGINT (their parent passes it on as SIGTERM), and so keep ignoring it.
    handle_ctrl_c = signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
    try:
        loop.add_signal_handler(signal.SIGTERM, stop)
        if handle_ctrl_c:
            loop.add_signal_handler(signal.SIGINT, stop)
    except (NotImplementedError, RuntimeError):  # not on Windows' loops
        handle_ctrl_c = False
    if on_ready is not None:
        on_ready()
    else:  # host is None only in workers, which pass on_ready
        shown = address(host, server.port)  # type: ignore[arg-type]
        print(f"wsframe demo server ({IMPLEMENTATION} hot path): {shown}", flush=True)
    async with server:
        try:
            await server.serve_forever()
        except asyncio.CancelledError:
            print("shutting down", flush=True)
    print("closed", flush=True)


def address(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve_worker(sock: socket.socket, ready: Callable[[], object], workers: int, options: dict[str, Any]) -> None:
    """One of ``--workers N``: serves on ``sock`` until SIGTERM."""
    asyncio.run(main(None, None, sock=sock, workers=workers, on_ready=ready, **options))


def optional_int(text: str) -> int | None:
    return None if text.lower() == "none" else int(text)


def run(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m wsframe", description="wsframe echo server, chat and demo page")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=1, help="server processes on the port (default 1)")
    parser.add_argument(
        "--max-message-size", type=optional_int, default=DEFAULT_MAX_MESSAGE_SIZE, help="bytes, or 'none' (1009 beyond)"
    )
    parser.add_argument(
        "--max-queue", type=optional_int, default=DEFAULT_MAX_QUEUE, help="messages waiting before reading pauses, or 'none'"
    )
    parser.add_argument(
        "--accept-delay", type=float, default=0.0, help="seconds to wait before accepting each handshake"
    )
    parser.add_argument(
        "--subprotocol",
        action="append",
        default=[],
        metavar="NAME",
        help="a subprotocol to select from the client's offer (repeatable, in order of preference)",
    )
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    options = dict(
        accept_delay=args.accept_delay,
        max_message_size=args.max_message_size,
        max_queue=args.max_queue,
        subprotocols=args.subprotocol,
    )
    if args.workers > 1:

        def announce(port: int, pids: list[int]) -> None:
            print(
                f"wsframe demo server ({IMPLEMENTATION} hot path, {args.workers} workers, pids "
                f"{' '.join(map(str, pids))}): {address(args.host, port)}",
                flush=True,
            )

        status = run_workers(
            args.workers, serve_worker, args.host, args.port, args=(args.workers, options), on_ready=announce
        )
        print("all workers stopped", flush=True)
        raise SystemExit(status)
    try:
        asyncio.run(main(args.host, args.port, **options))
    except KeyboardInterrupt:
        pass


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>wsframe demo</title>
<style>
:root{--bg:#f3f4f6;--card:#fff;--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--blue:#2563eb;--orange:#ea580c}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--ink)}
header{display:flex;align-items:baseline;gap:1.2em;flex-wrap:wrap;padding:.9em 1.5em;background:#111827;color:#f9fafb}
header h1{margin:0;font-size:19px;letter-spacing:.02em}
header span{color:#cbd5e1}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:1em;padding:1em 1.5em;
  max-width:1240px;margin:auto}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:.9em 1.1em;min-width:0}
h2{margin:0 0 .6em;font-size:15px;display:flex;justify-content:space-between;align-items:center;gap:1em}
.badge{background:#eef2ff;color:var(--blue);border-radius:999px;padding:.05em .75em;font-size:13px;font-weight:600}
.muted{color:var(--muted);font-size:13px;margin:.6em 0 0}
#chatlog{height:228px;overflow:auto;border:1px solid var(--line);border-radius:6px;padding:.4em .6em;background:#fafafa}
#chatlog div{padding:.1em 0;overflow-wrap:anywhere}
.who{font-weight:600;color:var(--blue);margin-right:.4em}
.mine .who{color:var(--orange)}
.note{color:var(--muted);font-style:italic}
form{display:flex;gap:.5em;margin-top:.6em;align-items:center;flex-wrap:wrap}
input{font:inherit;padding:.4em .6em;border:1px solid #d1d5db;border-radius:6px}
#chattext{flex:1}
input[type=number]{width:7em}
label{color:var(--muted)}
button{font:inherit;padding:.4em 1.1em;border:0;border-radius:6px;background:var(--blue);color:#fff;cursor:pointer}
button:disabled{opacity:.5;cursor:default}
table{border-collapse:collapse;width:100%}
td,th{padding:.3em .5em;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{color:var(--muted);font-weight:500}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
canvas{width:100%;height:210px;display:block}
.legend{display:flex;gap:1.1em;color:var(--muted);font-size:13px;font-weight:400}
.legend b{color:var(--ink);font-variant-numeric:tabular-nums}
.swatch{display:inline-block;width:14px;height:3px;border-radius:2px;vertical-align:middle;margin-right:.35em}
code{font-size:12.5px}
</style></head><body>
<header><h1>wsframe demo</h1><span id="server">connecting&hellip;</span></header>
<main>
<section>
<h2>Chat room <span class="badge"><span id="participants">0</span> participants</span></h2>
<div id="chatlog"></div>
<form id="chatform"><input id="chattext" placeholder="Say something to every open page" maxlength="2000"
 autocomplete="off"><button id="chatsend">Send</button></form>
<p class="muted">You are <b id="me">&hellip;</b>. Every page open on this server process takes part: each message
is broadcast as one frame, encoded (and compressed) once for all.</p>
</section>
<section>
<h2>Round-trip latency <span class="legend"><span><i class="swatch" style="background:var(--blue)"></i>median
<b id="median">&ndash;</b></span><span><i class="swatch" style="background:var(--orange)"></i>p99
<b id="p99">&ndash;</b></span></span></h2>
<canvas id="chart"></canvas>
<p class="muted">A small text probe every 100 ms on its own connection; each point: median and 99th percentile
of the last 5 seconds (<span id="samples">0</span> round trips).</p>
</section>
<section>
<h2>Echo burst</h2>
<form id="burstform"><label>messages <input id="count" type="number" value="2000" min="1" max="100000"></label>
<label>bytes each <input id="size" type="number" value="64" min="0" max="1000000"></label>
<button id="burst">Burst</button></form>
<table><thead><tr><th>message</th><th>compression</th><th class="num">messages/s</th><th class="num">MB/s each way</th>
<th class="num">time</th></tr></thead><tbody id="burstrows"></tbody></table>
<p class="muted">Sends all the messages at once, then waits for every echo; each echo is checked.</p>
</section>
<section>
<h2>Negotiated</h2>
<table><thead><tr><th>connection</th><th>subprotocol</th><th>extension</th><th>server&rarr;client window</th>
<th>client&rarr;server window</th></tr></thead><tbody id="negotiated"></tbody></table>
<p class="muted" id="hotpath"></p>
</section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const base = (location.protocol === "https:" ? "wss://" : "ws://") + location.host;
const demo = window.demo = {me: null, participants: 0, chat: [], latency: null, burst: null, stats: null};

const offered = new URLSearchParams(location.search).getAll("subprotocol");  // shown as negotiated below

function connect(path) {
  const ws = new WebSocket(base + path, offered);
  ws.binaryType = "arraybuffer";
  ws.opened = new Promise((resolve, reject) => {
    ws.addEventListener("open", () => resolve(ws));
    ws.addEventListener("error", () => reject(new Error("could not open " + path)));
  });
  return ws;
}
const chat = connect("/chat");
const probe = connect("/echo?probe");
const echoes = {"permessage-deflate": connect("/echo"), "none": connect("/echo?compression=off")};

async function refreshServer() {
  const stats = demo.stats = await (await fetch("/stats", {cache: "no-store"})).json();
  const kind = stats.implementation === "native" ? "native (Cython/C)" : "fallback (pure Python)";
  $("server").textContent = `server hot path: ${kind} \u00b7 worker pid ${stats.pid} of ${stats.workers}`
    + ` \u00b7 ${stats.open_connections} open connections \u00b7 ${stats.messages_received} messages in, `
    + `${stats.messages_sent} out`;
  $("hotpath").textContent = `The server runs the ${kind} hot path. Chat participants see one another within`
    + ` one server process; across processes or machines a message broker carries the messages.`;
  return stats;
}
setInterval(refreshServer, 2000);

// -- chat ---------------------------------------------------------------------------------------
function chatLine(className, who, text) {
  const line = document.createElement("div");
  line.className = className;
  if (who) {
    const name = document.createElement("span");
    name.className = "who";
    name.textContent = who;
    line.append(name);
  }
  line.append(text);
  const log = $("chatlog");
  log.append(line);
  log.scrollTop = log.scrollHeight;
}
chat.onmessage = (event) => {
  const message = JSON.parse(event.data);
  if (message.type === "welcome") {
    demo.me = message.you;
    $("me").textContent = message.you;
    negotiatedRow("chat", message.negotiated.subprotocol, describeDeflate(message.negotiated.deflate));
  } else if (message.type === "participants") {
    demo.participants = message.count;
    $("participants").textContent = message.count;
    const you = message.joined === demo.me ? " (you)" : "";
    if (message.joined) chatLine("note", "", message.joined + you + " joined");
    if (message.left) chatLine("note", "", message.left + " left");
  } else if (message.type === "chat") {
    demo.chat.push({from: message.from, text: message.text});
    chatLine(message.from === demo.me ? "mine" : "", message.from, message.text);
  }
};
chat.onclose = (event) => chatLine("note", "", "disconnected (" + event.code + ")");
$("chatform").onsubmit = (event) => {
  event.preventDefault();
  const text = $("chattext").value.trim();
  if (text && chat.readyState === 1) chat.send(text);
  $("chattext").value = "";
};

// -- negotiated ---------------------------------------------------------------------------------
function describeDeflate(params) {  // [extension, server's compression, client's compression]
  if (!params) return ["none", "–", "–"];
  const side = (bits, noTakeover) => bits + " bits" + (noTakeover ? ", no context takeover" : "");
  return ["permessage-deflate", side(params.server_max_window_bits, params.server_no_context_takeover),
          side(params.client_max_window_bits, params.client_no_context_takeover)];
}
function parseExtensions(header) {  // the browser's view: the response's Sec-WebSocket-Extensions
  if (!header) return null;
  const params = {server_max_window_bits: 15, client_max_window_bits: 15,
                  server_no_context_takeover: false, client_no_context_takeover: false};
  for (const part of header.split(";").slice(1)) {
    const [name, value] = part.trim().split("=");
    params[name] = value === undefined ? true : Number(value);
  }
  return params;
}
function negotiatedRow(name, subprotocol, deflate) {
  const row = $("negotiated").insertRow();
  for (const text of [name, subprotocol || "none", ...deflate]) row.insertCell().textContent = text;
}
Promise.all([probe.opened, ...Object.values(echoes).map((ws) => ws.opened)]).then(() => {
  negotiatedRow("latency probe", probe.protocol, describeDeflate(parseExtensions(probe.extensions)));
  for (const [label, ws] of Object.entries(echoes)) {
    const name = label === "none" ? "echo, plain" : "echo";
    negotiatedRow(name, ws.protocol, describeDeflate(parseExtensions(ws.extensions)));
  }
});

// -- latency ------------------------------------------------------------------------------------
const WINDOW_MS = 5000, CHART_MS = 60000;
const samples = [], points = [];
const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
probe.onmessage = (event) => {
  const now = performance.now();
  samples.push([now, now - parseFloat(event.data.slice(1))]);
};
setInterval(() => { if (probe.readyState === 1) probe.send("t" + performance.now()); }, 100);
setInterval(() => {
  const now = performance.now();
  while (samples.length && samples[0][0] < now - WINDOW_MS) samples.shift();
  while (points.length && points[0][0] < now - CHART_MS) points.shift();
  if (samples.length) {
    const sorted = samples.map((sample) => sample[1]).sort((a, b) => a - b);
    const median = quantile(sorted, 0.5), p99 = quantile(sorted, 0.99);
    points.push([now, median, p99]);
    demo.latency = {median, p99, samples: sorted.length};
    $("samples").textContent = sorted.length;
    $("median").textContent = median.toFixed(2) + " ms";
    $("p99").textContent = p99.toFixed(2) + " ms";
  }
  drawChart(now);
}, 500);

function drawChart(now) {
  const canvas = $("chart"), ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  if (canvas.width !== Math.round(width * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  const left = 50, right = 22, top = 8, bottom = 20;
  const top99 = Math.max(0.5, ...points.map((point) => point[2]));
  const step = niceStep(top99 / 4), yMax = Math.ceil(top99 / step) * step;
  const x = (t) => left + (width - left - right) * (1 - (now - t) / CHART_MS);
  const y = (ms) => top + (height - top - bottom) * (1 - ms / yMax);
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = "#6b7280";
  g.strokeStyle = "#e5e7eb";
  g.lineWidth = 1;
  for (let ms = 0; ms <= yMax + step / 2; ms += step) {
    g.beginPath(); g.moveTo(left, y(ms)); g.lineTo(width - right, y(ms)); g.stroke();
    g.textAlign = "right"; g.fillText(formatMs(ms), left - 6, y(ms) + 4);
  }
  g.textAlign = "center";
  for (let s = 0; s <= 60; s += 10) g.fillText(s ? "-" + s + " s" : "now", x(now - s * 1000), height - 5);
  for (const [index, color] of [[2, "#ea580c"], [1, "#2563eb"]]) {
    g.strokeStyle = color; g.lineWidth = 2; g.lineJoin = "round";
    g.beginPath();
    points.forEach((point, i) => (i ? g.lineTo : g.moveTo).call(g, x(point[0]), y(point[index])));
    g.stroke();
  }
}
function niceStep(raw) {
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= raw);
}
const formatMs = (ms) => +ms.toFixed(ms < 1 ? 2 : 1) + " ms";

// -- burst --------------------------------------------------------------------------------------
function payload(kind, size) {
  if (kind === "text") return "ticker ACME 104.25 +0.35% vol 12840; ".repeat(Math.ceil(size / 37)).slice(0, size);
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31) & 255;
  return bytes.buffer;
}
const sizeOf = (data) => typeof data === "string" ? new TextEncoder().encode(data).length : data.byteLength;

function burstOne(ws, kind, count, size) {
  const message = payload(kind, size), expected = sizeOf(message);
  if (ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error("the echo connection is closed"));
  return new Promise((resolve, reject) => {
    let received = 0;
    ws.onmessage = (event) => {
      if ((typeof event.data === "string") !== (kind === "text") || sizeOf(event.data) !== expected) {
        reject(new Error("an echo came back changed"));
      } else if (++received === count) {
        resolve(performance.now() - start);
      }
    };
    const start = performance.now();
    for (let i = 0; i < count; i++) ws.send(message);
  });
}

async function burst(count, size) {
  $("burst").disabled = true;
  const rows = $("burstrows"), results = [];
  rows.textContent = "";
  try {
    for (const [compression, ws] of Object.entries(echoes)) {
      await ws.opened;
      for (const kind of ["text", "binary"]) {
        const row = rows.insertRow();
        for (const text of [kind, compression, "\u2026", "", ""]) row.insertCell().textContent = text;
        [...row.cells].slice(2).forEach((cell) => cell.className = "num");
        const ms = await burstOne(ws, kind, count, size);
        const rate = count / (ms / 1000), megabytes = rate * size / 1e6;
        results.push({kind, compression, count, size, ms, rate, megabytes});
        row.cells[2].textContent = Math.round(rate).toLocaleString("en-US");
        row.cells[3].textContent = megabytes.toFixed(megabytes < 10 ? 2 : 1);
        row.cells[4].textContent = ms.toFixed(0) + " ms";
      }
    }
    demo.burst = results;
    await refreshServer();
  } finally {
    $("burst").disabled = false;
  }
  return results;
}
$("burstform").onsubmit = (event) => {
  event.preventDefault();
  burst(Number($("count").value), Number($("size").value)).catch((error) => chatLine("note", "", String(error)));
};
refreshServer();
</script></body></html>
"""


if __name__ == "__main__":
    run()
