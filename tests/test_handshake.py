"""The opening handshake (wsframe.handshake): pure Python, so no `impl` fixture."""

import base64
import hashlib
import http

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsframe.errors import HandshakeError, HandshakeRejected
from wsframe.handshake import (
    GUID,
    ClientHandshake,
    HTTPRequest,
    HTTPResponse,
    RequestReader,
    ResponseReader,
    accept_token,
    build_accept,
    build_rejection,
    build_request,
    check_request,
    check_response,
    format_extensions,
    generate_key,
    header_tokens,
    header_values,
    parse_extensions,
    select_subprotocol,
)

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

CHROME_REQUEST = (
    b"GET /chat?room=1 HTTP/1.1\r\n"
    b"Host: example.com:8080\r\n"
    b"Connection: Upgrade\r\n"
    b"Pragma: no-cache\r\n"
    b"Cache-Control: no-cache\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/124.0.0.0 Safari/537.36\r\n"
    b"Upgrade: websocket\r\n"
    b"Origin: https://example.com\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
    b"Accept-Language: en-US,en;q=0.9\r\n"
    b"Cookie: session=abc; theme=dark\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"\r\n"
)
FRAMES = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"  # masked "Hello" (RFC 6455 5.7)

GOOD_HEADERS = [
    ("Host", "example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", RFC_KEY),
    ("Sec-WebSocket-Version", "13"),
]


def request(headers=GOOD_HEADERS, method="GET", target="/"):
    return HTTPRequest(method, target, list(headers))


def replace_header(name, value, headers=GOOD_HEADERS):
    """GOOD_HEADERS with ``name`` set to ``value`` (None: removed)."""
    kept = [(n, v) for n, v in headers if n.lower() != name.lower()]
    return kept if value is None else [*kept, (name, value)]


def feed_chunks(reader, chunks):
    """Feed ``chunks`` one by one; the first non-None result, and that no chunk after it was needed."""
    for index, chunk in enumerate(chunks):
        result = reader.feed(chunk)
        if result is not None:
            return result, b"".join(chunks[index + 1 :])
    return None, b""


def split_at(data, cuts):
    cuts = sorted(set(cut for cut in cuts if 0 < cut < len(data)))
    return [data[start:end] for start, end in zip([0, *cuts], [*cuts, len(data)])]


def server_status(headers=GOOD_HEADERS, **kwargs):
    with pytest.raises(HandshakeError) as info:
        check_request(request(headers, **kwargs))
    return info.value


# --- keys ---------------------------------------------------------------------------------------------


def test_rfc_example_accept_token():
    assert accept_token(RFC_KEY) == RFC_ACCEPT


@given(st.binary(min_size=16, max_size=16))
@settings(max_examples=50, deadline=None)
def test_accept_token_matches_definition(nonce):
    key = base64.b64encode(nonce).decode()
    expected = base64.b64encode(hashlib.sha1(key.encode() + GUID.encode()).digest()).decode()
    assert accept_token(key) == expected


def test_generate_key_is_16_random_bytes():
    keys = {generate_key() for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        assert len(base64.b64decode(key, validate=True)) == 16


# --- header helpers -----------------------------------------------------------------------------------


def test_header_values_and_tokens():
    headers = [("Connection", "keep-alive, Upgrade"), ("X", "1"), ("CONNECTION", " ,close ,, "), ("connection", "")]
    assert header_values(headers, "connection") == ["keep-alive, Upgrade", " ,close ,, ", ""]
    assert header_tokens(headers, "Connection") == ["keep-alive", "Upgrade", "close"]
    assert header_tokens(headers, "Missing") == []


# --- request reader -----------------------------------------------------------------------------------


def test_chrome_request_parsed_and_checked():
    reader = RequestReader()
    parsed = reader.feed(CHROME_REQUEST + FRAMES)
    assert parsed.method == "GET" and parsed.target == "/chat?room=1"
    assert len(parsed.headers) == 14
    assert reader.remaining == FRAMES
    handshake = check_request(parsed)
    assert handshake == ClientHandshake(
        key=RFC_KEY,
        host="example.com:8080",
        target="/chat?room=1",
        origin="https://example.com",
        subprotocols=["chat", "superchat"],
        extensions=[("permessage-deflate", [("client_max_window_bits", None)])],
        headers=parsed.headers,
    )
    assert ("Cookie", "session=abc; theme=dark") in handshake.headers
    reader.feed_eof()  # after completion EOF is not an error


def test_request_byte_at_a_time():
    data = CHROME_REQUEST + FRAMES
    whole = RequestReader()
    expected = whole.feed(data)
    reader = RequestReader()
    result, rest = feed_chunks(reader, [data[i : i + 1] for i in range(len(data))])
    assert result == expected
    assert reader.remaining + rest == FRAMES


@given(st.lists(st.integers(0, len(CHROME_REQUEST) + len(FRAMES)), max_size=12))
@settings(max_examples=200, deadline=None)
def test_request_random_splits(cuts):
    data = CHROME_REQUEST + FRAMES
    expected = RequestReader().feed(data)
    reader = RequestReader()
    result, rest = feed_chunks(reader, split_at(data, cuts))
    assert result == expected
    assert reader.remaining + rest == FRAMES


@pytest.mark.parametrize("chunk_type", [bytes, bytearray, memoryview])
def test_request_reader_takes_buffers(chunk_type):
    reader = RequestReader()
    assert reader.feed(chunk_type(CHROME_REQUEST[:50])) is None
    assert reader.feed(chunk_type(CHROME_REQUEST[50:] + FRAMES)).target == "/chat?room=1"
    assert reader.remaining == FRAMES


def test_bare_lf_and_leading_empty_lines_accepted():
    crlf = RequestReader().feed(CHROME_REQUEST)
    lf = RequestReader().feed(b"\r\n\n" + CHROME_REQUEST.replace(b"\r\n", b"\n"))
    assert lf == crlf


def test_header_whitespace_stripped_and_latin1_kept():
    parsed = RequestReader().feed(b"GET / HTTP/1.1\r\nX-A: \t v a l \t \r\nX-B:\r\nX-C: caf\xe9\r\n\r\n")
    assert parsed.headers == [("X-A", "v a l"), ("X-B", ""), ("X-C", "caf\xe9")]


def test_feed_after_completion_is_a_programming_error():
    reader = RequestReader()
    reader.feed(CHROME_REQUEST)
    with pytest.raises(RuntimeError):
        reader.feed(b"more")


def request_error(data, **limits):
    reader = RequestReader(**limits)
    with pytest.raises(HandshakeError) as info:
        reader.feed(data)
    return info.value


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.0\r\n\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
        b"GET / HTTP/1.2\r\n\r\n",
        b"GET / http/1.1\r\n\r\n",
        b"GET /  HTTP/1.1\r\n\r\n",
        b"GET  / HTTP/1.1\r\n\r\n",
        b"GET /\r\n\r\n",
        b"GET / HTTP/1.1 \r\n\r\n",
        b"G(T / HTTP/1.1\r\n\r\n",
        b"GET /caf\xe9 HTTP/1.1\r\n\r\n",
        b"GET /\r HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : example.com\r\n\r\n",
        b"GET / HTTP/1.1\r\n Host: example.com\r\n\r\n",
        b"GET / HTTP/1.1\r\nX-A: 1\r\n\tcontinued\r\n\r\n",
        b"GET / HTTP/1.1\r\n: empty name\r\n\r\n",
        b"GET / HTTP/1.1\r\nX(A): 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nX-A: a\x00b\r\n\r\n",
        b"GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nX-A: a\x7fb\r\n\r\n",
    ],
)
def test_malformed_request_heads_are_400(head):
    assert request_error(head).status == 400


def test_request_line_too_long_is_414():
    reader = RequestReader(max_line=100)
    assert reader.feed(b"GET /" + b"a" * 80 + b" HTTP/1.1\r\n") is None  # 95 bytes: fine
    error = request_error(b"GET /" + b"a" * 200, max_line=100)  # detected before the line ends
    assert error.status == 414
    assert request_error(b"GET /" + b"a" * 90 + b" HTTP/1.1\r\n", max_line=100).status == 414


def test_header_line_too_long_is_431():
    assert request_error(b"GET / HTTP/1.1\r\nX: " + b"a" * 200, max_line=100).status == 431
    assert request_error(b"GET / HTTP/1.1\r\nX: " + b"a" * 98 + b"\r\n", max_line=100).status == 431
    ok = RequestReader(max_line=100).feed(b"GET / HTTP/1.1\r\nX: " + b"a" * 97 + b"\r\n\r\n")
    assert ok.headers == [("X", "a" * 97)]


def test_too_many_headers_is_431():
    head = b"GET / HTTP/1.1\r\n" + b"X: 1\r\n" * 5
    assert RequestReader(max_headers=5).feed(head + b"\r\n") is not None
    assert request_error(head + b"X: 1\r\n\r\n", max_headers=5).status == 431


@pytest.mark.parametrize("chunk_size", [1, 7, 100, 4096])
def test_unbounded_head_fails_with_431_and_stays_bounded(chunk_size):
    max_head = 2000
    reader = RequestReader(max_line=300, max_head=max_head, max_headers=10_000)
    filler = b"X-Filler: " + b"y" * 40 + b"\r\n"
    stream = b"GET / HTTP/1.1\r\n" + filler * (10 * max_head // len(filler))  # a head without end
    fed = 0
    with pytest.raises(HandshakeError) as info:
        while True:
            chunk = stream[fed : fed + chunk_size]
            reader.feed(chunk)
            fed += len(chunk)
            assert len(reader._partial) <= max_head
            assert fed < 10 * max_head, "never failed"
    assert info.value.status == 431
    assert fed <= max_head + chunk_size


def test_head_exactly_at_max_head_is_accepted():
    head = b"GET / HTTP/1.1\r\nX: abc\r\n\r\n"
    assert RequestReader(max_head=len(head)).feed(head) is not None
    assert request_error(head, max_head=len(head) - 1).status == 431


def test_eof_during_request_is_400():
    reader = RequestReader()
    reader.feed(CHROME_REQUEST[:-1])
    with pytest.raises(HandshakeError, match="connection closed during the handshake") as info:
        reader.feed_eof()
    assert info.value.status == 400


# --- check_request ------------------------------------------------------------------------------------


def test_minimal_request_checks():
    handshake = check_request(request())
    assert (handshake.key, handshake.host, handshake.origin, handshake.subprotocols, handshake.extensions) == (
        RFC_KEY,
        "example.com",
        None,
        [],
        [],
    )


def test_case_insensitive_names_and_tokens():
    headers = [
        ("HOST", "example.com"),
        ("upgrade", "WebSocket"),
        ("CONNECTION", "keep-alive, UPGRADE"),
        ("sec-websocket-key", RFC_KEY),
        ("SEC-WEBSOCKET-VERSION", "13"),
    ]
    assert check_request(request(headers)).key == RFC_KEY


@pytest.mark.parametrize(
    "connection",
    [["keep-alive, Upgrade"], ["Upgrade, keep-alive"], ["keep-alive", "upgrade"], [" , upgrade ,"]],
)
def test_connection_token_lists(connection):
    headers = replace_header("Connection", None) + [("Connection", value) for value in connection]
    assert check_request(request(headers)).key == RFC_KEY


def test_upgrade_token_list_with_other_protocols():
    assert check_request(request(replace_header("Upgrade", "h2c, websocket"))).key == RFC_KEY


def test_absolute_form_target_accepted():
    assert check_request(request(target="http://example.com/chat")).target == "http://example.com/chat"


@pytest.mark.parametrize(
    ("target", "host"),
    [
        ("http://other.example/chat", "other.example"),
        ("HTTPS://other.example:8443?x=1", "other.example:8443"),
        ("http://[::1]:80/", "[::1]:80"),
    ],
)
def test_absolute_form_authority_overrides_host(target, host):
    """RFC 9112 3.2.2: the host is the target's authority; the Host header (example.com) is ignored."""
    assert check_request(request(target=target)).host == host


@pytest.mark.parametrize(
    ("target", "host", "reason"),
    [
        ("http://user:secret@example.com/", "example.com", "userinfo"),
        ("http:///chat", "example.com", "authority"),
        ("http://example.com:65536/", "example.com", "authority"),
        ("http://exa%zzmple.com/", "example.com", "authority"),
        ("http://example.com/", "exa mple.com", "Host header"),
    ],
)
def test_absolute_form_with_bad_authority_or_host_is_400(target, host, reason):
    error = server_status(replace_header("Host", host), target=target)
    assert error.status == 400
    assert reason in str(error)


@pytest.mark.parametrize(
    "host",
    ["example.com", "example.com:8080", "127.0.0.1:1", "[::1]:65535", "[v1.fe:x]", "xn--bcher-kva.example",
     "example.com:", "my_host.local", "%41.example"],
)
def test_valid_hosts_are_accepted(host):
    assert check_request(request(replace_header("Host", host))).host == host


@pytest.mark.parametrize(
    "host",
    ["exa mple.com", "example.com:http", "example.com:65536", "example.com:123456", ":80", "[::1", "[::g]",
     "[fe80::1%eth0]", "user@example.com", "example.com/chat", "b\xfccher.example", "example.com:80:80",
     "::1", "%zz.example"],
)
def test_invalid_hosts_are_400(host):
    error = server_status(replace_header("Host", host))
    assert error.status == 400
    assert "not a valid host[:port]" in str(error)


def test_non_get_is_405_with_allow():
    error = server_status(method="POST")
    assert (error.status, error.headers) == (405, [("Allow", "GET")])


def test_missing_upgrade_is_426_with_upgrade_header():
    error = server_status(replace_header("Upgrade", None))
    assert error.status == 426
    assert header_values(error.headers, "Upgrade") == ["websocket"]


@pytest.mark.parametrize("version", [None, "8", "12", "13, 8", "", "013"])
def test_bad_or_missing_version_is_426_with_version_header(version):
    error = server_status(replace_header("Sec-WebSocket-Version", version))
    assert (error.status, error.headers) == (426, [("Sec-WebSocket-Version", "13")])


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (replace_header("Upgrade", "h2c"), "websocket"),
        (replace_header("Upgrade", "websockets"), "websocket"),
        (replace_header("Connection", None), "upgrade"),
        (replace_header("Connection", "keep-alive"), "upgrade"),
        (replace_header("Connection", "upgrade-ish"), "upgrade"),
        (replace_header("Host", None), "Host"),
        (replace_header("Host", ""), "Host"),
        ([*GOOD_HEADERS, ("Host", "other.example")], "more than one Host"),
        (replace_header("Sec-WebSocket-Key", None), "missing Sec-WebSocket-Key"),
        ([*GOOD_HEADERS, ("Sec-WebSocket-Key", RFC_KEY)], "more than one Sec-WebSocket-Key"),
        ([*GOOD_HEADERS, ("Sec-WebSocket-Version", "13")], "more than one Sec-WebSocket-Version"),
        (replace_header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ"), "not base64"),
        (replace_header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==="), "not base64"),
        (replace_header("Sec-WebSocket-Key", "dGhlIHNhbXBs ZSBub25jZQ=="), "not base64"),
        (replace_header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25j\xe9Q=="), "not base64"),
        (replace_header("Sec-WebSocket-Key", base64.b64encode(b"x" * 15).decode()), "15 bytes"),
        (replace_header("Sec-WebSocket-Key", base64.b64encode(b"x" * 17).decode()), "17 bytes"),
        (replace_header("Sec-WebSocket-Key", ""), "0 bytes"),
        ([*GOOD_HEADERS, ("Origin", "https://a"), ("Origin", "https://b")], "more than one Origin"),
        ([*GOOD_HEADERS, ("Sec-WebSocket-Protocol", "chat, s/p")], "subprotocol"),
        ([*GOOD_HEADERS, ("Sec-WebSocket-Extensions", "permessage-deflate;")], "Sec-WebSocket-Extensions"),
        ([*GOOD_HEADERS, ("Content-Length", "5")], "body"),
        ([*GOOD_HEADERS, ("Transfer-Encoding", "chunked")], "body"),
    ],
)
def test_bad_requests_are_400(headers, reason):
    error = server_status(headers)
    assert error.status == 400
    assert reason in str(error)


@pytest.mark.parametrize("target", ["*", "chat", "ftp://example.com/"])
def test_bad_target_is_400(target):
    assert server_status(target=target).status == 400


def test_empty_content_length_is_allowed():
    assert check_request(request([*GOOD_HEADERS, ("Content-Length", "0")])).key == RFC_KEY


def test_select_subprotocol_uses_server_preference():
    assert select_subprotocol(["chat", "superchat"], ["superchat", "chat"]) == "superchat"
    assert select_subprotocol(["chat", "superchat"], ["other", "chat"]) == "chat"
    assert select_subprotocol(["chat"], ["other"]) is None
    assert select_subprotocol([], ["chat"]) is None


# --- extensions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "parsed"),
    [
        (
            ["permessage-deflate; client_max_window_bits, permessage-deflate; server_no_context_takeover"],
            [
                ("permessage-deflate", [("client_max_window_bits", None)]),
                ("permessage-deflate", [("server_no_context_takeover", None)]),
            ],
        ),
        (
            ["permessage-deflate; client_max_window_bits; server_max_window_bits=10", "permessage-deflate"],
            [
                ("permessage-deflate", [("client_max_window_bits", None), ("server_max_window_bits", "10")]),
                ("permessage-deflate", []),
            ],
        ),
        (
            ['permessage-deflate; server_max_window_bits="10"'],
            [("permessage-deflate", [("server_max_window_bits", "10")])],
        ),
        (['x; a="\\1\\0"'], [("x", [("a", "10")])]),
        (["x ;a = b ; c\t,\ty"], [("x", [("a", "b"), ("c", None)]), ("y", [])]),
        ([", x,, y ,"], [("x", []), ("y", [])]),
        ([], []),
        ([""], []),
    ],
)
def test_parse_extensions(values, parsed):
    assert parse_extensions(values) == parsed


@pytest.mark.parametrize(
    "value",
    [
        "permessage-deflate;",
        "permessage-deflate; =1",
        "permessage-deflate; a=",
        "permessage-deflate; a=b=c",
        'x; a="1 0"',
        'x; a="10',
        'x; a="a,b"',
        'x; a=""',
        "x y",
        "x; a b",
        ";a",
        "x/y",
        "x; a=1;; b",
    ],
)
def test_malformed_extensions_are_400(value):
    with pytest.raises(HandshakeError) as info:
        parse_extensions(["ok", value])
    assert info.value.status == 400


token_text = st.text("abcxyz019-_.!~", min_size=1, max_size=8)
extension_lists = st.lists(
    st.tuples(token_text, st.lists(st.tuples(token_text, st.none() | token_text), max_size=3)), max_size=4
)


@given(extension_lists)
@settings(max_examples=200, deadline=None)
def test_format_then_parse_extensions_round_trip(extensions):
    assert parse_extensions([format_extensions(extensions)]) == extensions


@pytest.mark.parametrize(
    "extensions",
    [[("a b", [])], [("x", [("a=b", None)])], [("x", [("a", "1 0")])], [("x", [("a", "")])], [("x\r\n", [])]],
)
def test_format_extensions_rejects_non_tokens(extensions):
    with pytest.raises(ValueError):
        format_extensions(extensions)


# --- builders and the client side ---------------------------------------------------------------------


def test_build_accept_rfc_example():
    response = ResponseReader().feed(build_accept(RFC_KEY))
    assert (response.status, response.reason) == (101, "Switching Protocols")
    assert header_values(response.headers, "Sec-WebSocket-Accept") == [RFC_ACCEPT]


def test_round_trip_client_to_server_to_client():
    key = generate_key()
    offered = "permessage-deflate; client_max_window_bits, x-other"
    data = build_request(
        "example.com:443",
        "/chat?x=1",
        key,
        origin="https://example.com",
        subprotocols=["chat", "superchat"],
        extensions=offered,
        extra_headers=[("Cookie", "a=b")],
    )
    server_reader = RequestReader()
    handshake = check_request(server_reader.feed(data + FRAMES))
    assert server_reader.remaining == FRAMES
    assert (handshake.key, handshake.host, handshake.target, handshake.origin) == (
        key,
        "example.com:443",
        "/chat?x=1",
        "https://example.com",
    )
    assert handshake.subprotocols == ["chat", "superchat"]
    assert handshake.extensions == parse_extensions([offered])
    assert header_values(handshake.headers, "cookie") == ["a=b"]

    subprotocol = select_subprotocol(handshake.subprotocols, ["superchat"])
    accepted = format_extensions([("permessage-deflate", [("client_max_window_bits", "15")])])
    answer = build_accept(handshake.key, subprotocol=subprotocol, extensions=accepted, extra_headers=[("X-A", "1")])
    client_reader = ResponseReader()
    response = client_reader.feed(answer + FRAMES)
    assert client_reader.remaining == FRAMES
    assert check_response(
        response, key, subprotocols=["chat", "superchat"], extensions_offered=["permessage-deflate", "x-other"]
    ) == ("superchat", [("permessage-deflate", [("client_max_window_bits", "15")])])


@given(st.lists(st.integers(0, 300), max_size=8))
@settings(max_examples=100, deadline=None)
def test_response_random_splits(cuts):
    data = build_accept(RFC_KEY, subprotocol="chat") + FRAMES
    expected = ResponseReader().feed(data)
    reader = ResponseReader()
    result, rest = feed_chunks(reader, split_at(data, cuts))
    assert result == expected
    assert reader.remaining + rest == FRAMES


def response_101(**changes):
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", RFC_ACCEPT)]
    for name, value in changes.items():
        headers = replace_header(name.replace("_", "-"), value, headers)
    return HTTPResponse(101, "Switching Protocols", headers)


def test_check_response_minimal_and_case_insensitive():
    assert check_response(response_101(), RFC_KEY) == (None, [])
    response = HTTPResponse(
        101, "", [("UPGRADE", "WebSocket"), ("connection", "keep-alive, upgrade"), ("sec-websocket-accept", RFC_ACCEPT)]
    )
    assert check_response(response, RFC_KEY) == (None, [])


@pytest.mark.parametrize(
    ("response", "kwargs", "reason"),
    [
        (response_101(Upgrade=None), {}, "Upgrade"),
        (response_101(Upgrade="h2c"), {}, "Upgrade"),
        (response_101(Upgrade="websocket, h2c"), {}, "Upgrade"),
        (response_101(Connection=None), {}, "Connection"),
        (response_101(Connection="keep-alive"), {}, "Connection"),
        (response_101(Sec_WebSocket_Accept=None), {}, "Sec-WebSocket-Accept"),
        (response_101(Sec_WebSocket_Accept="x" + RFC_ACCEPT[1:]), {}, "does not match"),
        (
            HTTPResponse(101, "", [*response_101().headers, ("Sec-WebSocket-Accept", RFC_ACCEPT)]),
            {},
            "2 Sec-WebSocket-Accept",
        ),
        (response_101(Sec_WebSocket_Protocol="chat"), {}, "not offered"),
        (response_101(Sec_WebSocket_Protocol="other"), {"subprotocols": ["chat"]}, "not offered"),
        (response_101(Sec_WebSocket_Protocol="chat, superchat"), {"subprotocols": ["chat", "superchat"]}, "several"),
        (response_101(Sec_WebSocket_Protocol=""), {"subprotocols": ["chat"]}, "empty"),
        (response_101(Sec_WebSocket_Extensions="permessage-deflate"), {}, "not offered"),
        (
            response_101(Sec_WebSocket_Extensions="permessage-deflate, x-y"),
            {"extensions_offered": ["permessage-deflate"]},
            "x-y",
        ),
        (response_101(Sec_WebSocket_Extensions="pmd;"), {"extensions_offered": ["pmd"]}, "malformed"),
    ],
)
def test_invalid_101_responses(response, kwargs, reason):
    with pytest.raises(HandshakeError) as info:
        check_response(response, RFC_KEY, **kwargs)
    assert not isinstance(info.value, HandshakeRejected)
    assert info.value.status is None
    assert reason in str(info.value)


def test_non_101_with_content_length_body():
    data = build_rejection(403, headers=[("X-Why", "no")], body=b"forbidden") + b"trailing"
    reader = ResponseReader()
    response, rest = feed_chunks(reader, split_at(data, range(0, len(data), 5)))
    assert (response.status, response.reason, response.body) == (403, "Forbidden", b"forbidden")
    assert reader.remaining + rest == b"trailing"
    with pytest.raises(HandshakeRejected) as info:
        check_response(response, RFC_KEY)
    assert (info.value.status, info.value.body) == (403, b"forbidden")
    assert header_values(info.value.headers, "X-Why") == ["no"]


def test_non_101_body_until_eof():
    reader = ResponseReader()
    assert reader.feed(b"HTTP/1.0 404 Not Found\r\nServer: x\r\n\r\nno such") is None
    assert reader.feed(b" thing") is None
    response = reader.feed_eof()
    assert (response.status, response.reason, response.body) == (404, "Not Found", b"no such thing")


def test_body_cut_at_max_body():
    reader = ResponseReader(max_body=4)
    assert reader.feed(b"HTTP/1.1 500 Oops\r\n\r\nab") is None
    assert reader.feed(b"cdef").body == b"abcd"
    reader = ResponseReader(max_body=4)
    assert reader.feed(b"HTTP/1.1 500 Oops\r\nContent-Length: 10\r\n\r\nabcdefghij").body == b"abcd"


def test_bodiless_responses_and_interim_responses():
    assert ResponseReader().feed(b"HTTP/1.1 204 No Content\r\n\r\n").body == b""
    assert ResponseReader().feed(b"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n").status == 302
    reader = ResponseReader()
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
    response = reader.feed(interim + build_accept(RFC_KEY))
    assert response.status == 101
    assert check_response(response, RFC_KEY) == (None, [])
    chunked = ResponseReader()
    response = chunked.feed(b"HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    assert (response.status, response.body, chunked.remaining) == (400, b"", b"3\r\nabc\r\n0\r\n\r\n")


def test_interim_responses_are_counted():
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    assert ResponseReader(max_interim=3).feed(interim * 3 + build_accept(RFC_KEY)).status == 101
    reader = ResponseReader(max_interim=3)
    reader.feed(interim * 3)
    with pytest.raises(HandshakeError, match="more than 3 interim 1xx responses") as info:
        reader.feed(interim)
    assert info.value.status is None


def test_interim_response_returned_when_asked():
    reader = ResponseReader(return_interim=True)
    response = reader.feed(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + build_accept(RFC_KEY))
    assert (response.status, response.headers, response.body) == (103, [("Link", "</a>")], b"")
    assert reader.remaining == build_accept(RFC_KEY)
    assert ResponseReader(return_interim=True).feed(build_accept(RFC_KEY)).status == 101


@pytest.mark.parametrize("chunk_size", [1, 25, 4096])
def test_interim_responses_share_one_head_budget(chunk_size):
    """Each interim head is small, but together they are bounded by max_head (not reset per head)."""
    interim = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
    stream = interim * 50
    reader = ResponseReader(max_head=10 * len(interim), max_interim=1000)
    with pytest.raises(HandshakeError, match="larger than") as info:
        for start in range(0, len(stream), chunk_size):
            reader.feed(stream[start : start + chunk_size])
    assert info.value.status is None
    assert start < 11 * len(interim)


def test_status_line_without_reason():
    assert ResponseReader().feed(b"HTTP/1.1 503\r\nContent-Length: 0\r\n\r\n").reason == ""


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 99 Low\r\n\r\n",
        b"HTTP/1.1 1010 X\r\n\r\n",
        b"HTTP/2 101 X\r\n\r\n",
        b"HTTP/1.0 101 Switching Protocols\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
        b"HTTP/1.1 400 Bad\r\nContent-Length: x\r\n\r\n",
        b"HTTP/1.1 400 Bad\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"HTTP/1.1 101 OK\r\nbad header\r\n\r\n",
    ],
)
def test_malformed_responses(head):
    with pytest.raises(HandshakeError) as info:
        ResponseReader().feed(head)
    assert info.value.status is None


def test_response_limits_and_eof():
    with pytest.raises(HandshakeError) as info:
        ResponseReader(max_head=100).feed(b"HTTP/1.1 101 OK\r\n" + b"X: yyyyyyyy\r\n" * 10)
    assert info.value.status is None
    reader = ResponseReader()
    reader.feed(b"HTTP/1.1 101 Switching")
    with pytest.raises(HandshakeError, match="connection closed during the handshake") as info:
        reader.feed_eof()
    assert info.value.status is None
    reader = ResponseReader()
    reader.feed(b"HTTP/1.1 400 Bad\r\nContent-Length: 10\r\n\r\nabc")
    with pytest.raises(HandshakeError, match="3 of 10") as info:
        reader.feed_eof()
    assert info.value.status is None


def test_build_rejection():
    data = build_rejection(426, headers=[("Sec-WebSocket-Version", "13")])
    assert data == (
        b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    reader = ResponseReader()
    upgrade_headers = [("Upgrade", "websocket"), ("Connection", "Upgrade")]
    response = reader.feed(build_rejection(426, headers=upgrade_headers, body=b"hi"))
    assert header_tokens(response.headers, "Connection") == ["Upgrade", "close"]
    assert header_values(response.headers, "Content-Type") == ["text/plain; charset=utf-8"]
    assert response.body == b"hi"
    closing = ResponseReader().feed(build_rejection(400, headers=[("connection", "Close")]))
    assert header_tokens(closing.headers, "Connection") == ["Close"]
    with pytest.raises(ValueError):
        build_rejection(101)
    with pytest.raises(ValueError):
        build_rejection(400, headers=[("Content-Length", "3")])


@pytest.mark.parametrize(
    ("status", "error"),
    [(404.5, TypeError), (True, TypeError), ("404", TypeError), (None, TypeError), (99, ValueError),
     (101, ValueError), (199, ValueError), (600, ValueError), (-400, ValueError)],
)
def test_build_rejection_refuses_bad_statuses(status, error):
    with pytest.raises(error, match="status"):
        build_rejection(status)


def test_build_rejection_takes_int_enums_and_refuses_text_bodies():
    assert build_rejection(http.HTTPStatus.NOT_FOUND).startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert build_rejection(599).startswith(b"HTTP/1.1 599 \r\n")
    assert build_rejection(400, body=memoryview(b"no")).endswith(b"\r\n\r\nno")
    for body in ["text", 5, None]:
        with pytest.raises(TypeError, match="body must be bytes"):
            build_rejection(400, body=body)


BUILDERS = {
    "request": lambda headers: build_request("example.com", "/", RFC_KEY, extra_headers=headers),
    "accept": lambda headers: build_accept(RFC_KEY, extra_headers=headers),
    "rejection": lambda headers: build_rejection(403, headers=headers),
}


@pytest.mark.parametrize("builder", BUILDERS.values(), ids=BUILDERS.keys())
@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ([("X-A", "a\x0bb")], ValueError),
        ([("X-A", "a\x1bb")], ValueError),
        ([("X-A", "a\x7fb")], ValueError),
        ([("X-A", "a\x00b")], ValueError),
        ([("X-A", "a\r\nX-B: b")], ValueError),
        ([("X-A", "\u20ac")], ValueError),
        ([("X-A", " a")], ValueError),
        ([("X-A", "a\t")], ValueError),
        ([("X A", "a")], ValueError),
        ([("", "a")], ValueError),
        ([("X-A", "a", "b")], TypeError),
        (["ab"], TypeError),
        ({"X-A": "a"}, TypeError),
        ([("X-A", 1)], TypeError),
        ([(b"X-A", "a")], TypeError),
    ],
)
def test_builders_refuse_invalid_headers(builder, headers, error):
    with pytest.raises(error, match="header"):
        builder(headers)


@given(
    name=st.text(alphabet="Xy-~!: \t\r\n\x00\x7f", max_size=4),
    value=st.text(alphabet=st.characters(max_codepoint=0x17F), max_size=6),
)
@settings(max_examples=300, deadline=None)
def test_builders_accept_exactly_the_headers_the_readers_parse_back(name, value):
    """A builder accepts a header if and only if that header line is received as exactly that header."""
    try:
        raw = f"HTTP/1.1 204 No Content\r\n{name}: {value}\r\n\r\n".encode("latin-1")
        received = ResponseReader().feed(raw)
    except (UnicodeEncodeError, HandshakeError):
        received = None
    expected_valid = received is not None and received.headers == [(name, value)]
    for kind, builder in BUILDERS.items():
        try:
            data = builder([(name, value)])
        except ValueError:
            assert not expected_valid, (kind, name, value)
            continue
        assert expected_valid, (kind, name, value)
        reader = RequestReader() if kind == "request" else ResponseReader()
        assert (name, value) in reader.feed(data).headers


def test_builders_accept_obs_text_inner_whitespace_and_empty_values():
    headers = [("X-A", "caf\xe9"), ("X-B", "a \t b"), ("X-C", "")]
    for kind, builder in BUILDERS.items():
        reader = RequestReader() if kind == "request" else ResponseReader()
        parsed = reader.feed(builder(headers)).headers
        assert all(header in parsed for header in headers), kind


def test_server_errors_become_responses():
    """Each HandshakeError of check_request carries what build_rejection needs."""
    for error in [server_status(method="PUT"), server_status(replace_header("Sec-WebSocket-Version", "8"))]:
        response = ResponseReader().feed(build_rejection(error.status, headers=error.headers, body=str(error).encode()))
        assert response.status == error.status
        assert all(header in response.headers for header in error.headers)
        assert response.body == str(error).encode()


def test_build_request_layout():
    data = build_request("example.com", "/chat", RFC_KEY)
    assert data == (
        b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"host": "example.com\r\nX-Evil: 1"},
        {"host": "example.com\n"},
        {"host": "exa\x00mple.com"},
        {"host": "exa mple.com"},
        {"host": "b\xfccher.example"},
        {"host": "example.com:65536"},
        {"host": "[::g]"},
        {"host": ""},
        {"key": RFC_KEY + "\x0b"},
        {"origin": "https://a\x1b"},
        {"target": "/chat HTTP/1.1\r\nX-Evil: 1\r\n"},
        {"target": "/a b"},
        {"target": ""},
        {"key": RFC_KEY + "\r\n"},
        {"origin": "https://a\rX: y"},
        {"subprotocols": ["chat\r\nX: y"]},
        {"subprotocols": ["chat, other"]},
        {"extensions": "permessage-deflate\r\nX: y"},
        {"extra_headers": [("X-A", "1\r\nX-B: 2")]},
        {"extra_headers": [("X-A\r\nX-B", "2")]},
        {"extra_headers": [("X A", "2")]},
        {"extra_headers": [("X-A", "\u20ac")]},
    ],
)
def test_build_request_rejects_injection(kwargs):
    arguments = {"host": "example.com", "target": "/", "key": RFC_KEY, **kwargs}
    with pytest.raises(ValueError):
        build_request(**arguments)


@pytest.mark.parametrize("host", ["[::1]:8080", "xn--bcher-kva.example", "127.0.0.1:9"])
def test_build_request_takes_ip_literals_and_punycode(host):
    assert check_request(RequestReader().feed(build_request(host, "/", RFC_KEY))).host == host


@pytest.mark.parametrize(
    "kwargs",
    [
        {"subprotocol": "chat\r\nX: y"},
        {"extensions": "x\nY: z"},
        {"extra_headers": [("Set-Cookie", "a=b\r\n\r\nbody")]},
    ],
)
def test_build_accept_rejects_injection(kwargs):
    with pytest.raises(ValueError):
        build_accept(RFC_KEY, **kwargs)
