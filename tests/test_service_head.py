"""Prepared response heads (issue 18, target 4): the guarded protocol's request cycle writes a PreparedHead — an
answer's headers checked and encoded once — without uvicorn checking and encoding them again on every answer.
What goes on the wire must be, byte for byte, what uvicorn's own path writes (status line, every header in
order, `connection: close` when due, body) for every kind of request; a header that uvicorn would refuse (CR,
LF, any control character) can never go out through it; and the assumptions it makes about uvicorn are pinned.

Servers run in threads on 127.0.0.1 (port 0) and are spoken to over raw sockets; every read is bounded. No
timing is asserted (benchmarks/service.py measures).
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
pytest.importorskip("httptools")
from uvicorn.protocols.http import httptools_impl  # noqa: E402

from engine.ops.service import (  # noqa: E402
    PREPARED_HEAD, BundleHolder, ConnectionGuard, ConnectionLimits, PreparedHead, _cycles_agree, _guarded_base,
    _json_head, _send_json, create_app, guarded_protocol)

ROOT = Path(__file__).resolve().parent.parent
ALLOW = (b'{"source":"LSC","recipient":"ALI","data":"provider-data","purpose":"inspection",'
         b'"on":"2005-06-23"}')
DENY = b'{"source":"JCP","recipient":"ALI","data":"provider-data","purpose":"inspection","on":"2005-06-23"}'


@contextmanager
def running(app: Any, http: Any, **options: Any) -> Iterator[int]:
    """Serve `app` with uvicorn (`http`: a protocol class, or "httptools": uvicorn's own) in a thread; yield the
    port."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, http=http, ws="none", lifespan="off",
                            log_level="critical", access_log=False, **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def exchange(port: int, payload: bytes, seconds: float = 10.0) -> bytes:
    """Send `payload` at once (pipelined, if it holds several requests) and read until the server closes (or
    sends nothing for `seconds`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=seconds) as s:
        s.sendall(payload)
        return _rest(s)


def masked(wire: bytes) -> bytes:
    """The date header's value (it moves each second) masked; nothing else."""
    return re.sub(rb"\r\ndate: [^\r\n]*\r\n", b"\r\ndate: (masked)\r\n", wire)


def post(path: str, body: bytes, *extra: bytes, version: bytes = b"1.1") -> bytes:
    return b"".join([b"POST ", path.encode(), b" HTTP/", version, b"\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: ", str(len(body)).encode(), b"\r\n",
                     *[x + b"\r\n" for x in extra], b"\r\n", body])


def get(path: str, *extra: bytes, method: bytes = b"GET", version: bytes = b"1.1") -> bytes:
    return b"".join([method, b" ", path.encode(), b" HTTP/", version, b"\r\nHost: 127.0.0.1\r\n",
                     *[x + b"\r\n" for x in extra], b"\r\n"])


CLOSE = b"Connection: close"


def counted_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the header checks uvicorn's own `send` makes (its regular expressions, looked up at each call)."""
    calls = [0]

    class Counting:
        def __init__(self, pattern: re.Pattern) -> None:
            self.pattern = pattern

        def search(self, data: bytes) -> Any:
            calls[0] += 1
            return self.pattern.search(data)

    monkeypatch.setattr(httptools_impl, "HEADER_RE", Counting(httptools_impl.HEADER_RE))
    monkeypatch.setattr(httptools_impl, "HEADER_VALUE_RE", Counting(httptools_impl.HEADER_VALUE_RE))
    return calls


# ---- the service: the same bytes on the wire as uvicorn's own path -----------------------------------------


@pytest.fixture(scope="module")
def holder() -> BundleHolder:
    return BundleHolder(ROOT)


@pytest.fixture(scope="module")
def ports(holder: BundleHolder) -> Iterator[tuple[int, int]]:
    """(lawful's protocol, prepared heads on; uvicorn's own httptools protocol): the same service, each with its
    own memo, served as `lawful serve` serves it (its front, DecideRoute, directly)."""
    guard = ConnectionGuard(ConnectionLimits())
    fast, plain = create_app(holder, guard=guard), create_app(holder)
    with running(fast.front, guarded_protocol(guard)) as a, running(plain.front, "httptools") as b:
        yield a, b


SEQUENCES = {
    "ALLOW, new then remembered": [post("/v1/decide", ALLOW), post("/v1/decide", ALLOW), get("/v1/health", CLOSE)],
    "DENY, new then remembered": [post("/v1/decide", DENY), post("/v1/decide", DENY), get("/v1/health", CLOSE)],
    "a remembered ALLOW with Connection: close": [post("/v1/decide", ALLOW), post("/v1/decide", ALLOW, CLOSE)],
    "a new DENY with Connection: close": [post("/v1/decide", DENY.replace(b"JCP", b"ALI"), CLOSE)],
    "HTTP/1.0": [post("/v1/decide", ALLOW, version=b"1.0")],
    "HTTP/1.0 with keep-alive (uvicorn closes it all the same)": [
        post("/v1/decide", ALLOW, b"Connection: keep-alive", version=b"1.0")],
    "health, HEAD and errors": [get("/v1/health"), get("/v1/health", method=b"HEAD"), post("/v1/decide", b"{"),
                                post("/v1/decide", b'{"source":"NOPE"}'), get("/nowhere"),
                                post("/v1/decide", b"[" + ALLOW + b"]"), get("/v1/decide", CLOSE)],
    "a batch and a question without a purpose": [
        post("/v1/decide", b'{"questions":[' + ALLOW + b"," + DENY + b"]}"),
        post("/v1/decide", b'{"source":"LSC","recipient":"ALI","data":"provider-data","on":"2005-06-23"}', CLOSE)],
}


@pytest.mark.parametrize("name", sorted(SEQUENCES))
@pytest.mark.parametrize("pipelined", [True, False])
def test_the_wire_bytes_are_uvicorns(ports: tuple[int, int], name: str, pipelined: bool) -> None:
    fast, plain = ports
    requests = SEQUENCES[name]
    if pipelined:  # all at once, in one send: answered in order, each after the one before
        wires = [exchange(port, b"".join(requests)) for port in (fast, plain)]
    else:  # one at a time on one connection
        wires = []
        for port in (fast, plain):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                out = bytearray()
                for i, request in enumerate(requests):
                    s.sendall(request)
                    out += _one_response(s, head=request.startswith(b"HEAD"))
                    if i == len(requests) - 1:
                        out += _rest(s)
            wires.append(bytes(out))
    assert wires[0].startswith(b"HTTP/1.1 ")
    assert wires[0].count(b"HTTP/1.1 ") == len(requests)
    assert masked(wires[0]) == masked(wires[1])


def _one_response(s: socket.socket, head: bool) -> bytes:
    """One response from `s`: its head, then content-length bytes of body (none for HEAD)."""
    data = bytearray()
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return bytes(data)
        data += chunk
    top, _, body = bytes(data).partition(b"\r\n\r\n")
    m = re.search(rb"\r\ncontent-length: (\d+)", top)
    want = 0 if head or m is None else int(m.group(1))
    while len(body) < want:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    assert len(body) == want, "nothing may follow an answer before the next request"
    return top + b"\r\n\r\n" + body


def _rest(s: socket.socket) -> bytes:
    out = bytearray()
    while True:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        out += chunk
    return bytes(out)


def test_remembered_answers_take_the_prepared_path(ports: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of it: an answer from lawful's protocol is not checked header by header again (uvicorn's own
    protocol checks each header twice), and the bytes are the same."""
    fast, plain = ports
    access = logging.getLogger("uvicorn.access")
    monkeypatch.setattr(access, "handlers", [])  # no access log (the default; other tests' set-ups may add one)
    monkeypatch.setattr(access, "propagate", False)
    exchange(fast, post("/v1/decide", ALLOW, CLOSE))  # remembered
    calls = counted_checks(monkeypatch)
    a = exchange(fast, post("/v1/decide", ALLOW, CLOSE))
    assert calls[0] == 0
    b = exchange(plain, post("/v1/decide", ALLOW, CLOSE))
    assert calls[0] >= 2 * 9  # the 2 default headers and the answer's 7, two checks each
    assert masked(a) == masked(b) and b"\r\nx-frame-options: DENY\r\n" in a


def test_with_an_access_log_each_answer_is_logged_by_uvicorns_path(ports: tuple[int, int],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """`lawful serve --access-log`: uvicorn's `send` writes the line, so it answers (the same bytes)."""
    fast, plain = ports
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    access = logging.getLogger("uvicorn.access")
    monkeypatch.setattr(access, "handlers", [Keep()])
    monkeypatch.setattr(access, "propagate", False)
    level = access.level
    access.setLevel(logging.INFO)  # (setLevel: the logger caches which levels are on)
    try:
        exchange(fast, post("/v1/decide", ALLOW, CLOSE))
        calls = counted_checks(monkeypatch)
        a = exchange(fast, post("/v1/decide", ALLOW, CLOSE))
    finally:
        access.setLevel(level)
    assert calls[0] >= 2 * 9 and any('"POST /v1/decide HTTP/1.1" 200' in line for line in lines)
    assert masked(a) == masked(exchange(plain, post("/v1/decide", ALLOW, CLOSE)))


# ---- the cycle itself: HEAD, 204, keep-alive, close, pipelining, the server's own headers ------------------


async def prepared_app(scope: dict, receive: Any, send: Any) -> None:
    """Answers `{"a":1}` with a PreparedHead, the status its path names (/200, /204, /304, /422)."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await _send_json(send, int(scope["path"].strip("/") or 200), b'{"a":1}')


@pytest.mark.parametrize("options", [{}, {"headers": [("X-Extra", "one"), ("X-Other", "two\tthree")]},
                                     {"server_header": False, "date_header": False}])
def test_the_prepared_cycle_writes_what_uvicorns_send_writes(options: dict) -> None:
    guard = ConnectionGuard(ConnectionLimits())
    requests = [get("/200"), get("/200", method=b"HEAD"), get("/204"), get("/304", method=b"HEAD"), get("/422"),
                post("/200", b"x" * 10), get("/200", b"Connection: keep-alive, Upgrade-Insecure"),
                get("/200", b"Expect: 100-continue"), get("/200", CLOSE)]
    with running(prepared_app, guarded_protocol(guard), **options) as fast, \
            running(prepared_app, "httptools", **options) as plain:
        for payload in (b"".join(requests), get("/200", version=b"1.0"), get("/200", method=b"HEAD", version=b"1.0"),
                        get("/200", b"connection: CLOSE")):
            a, b = exchange(fast, payload), exchange(plain, payload)
            assert a.startswith(b"HTTP/1.1 ") and masked(a) == masked(b)
        if options.get("headers"):
            assert b"\r\nx-extra: one\r\nx-other: two\tthree\r\n" in a  # the server's own headers, as uvicorn's


def test_servers_with_other_default_headers_in_one_process_each_write_their_own() -> None:
    guard = ConnectionGuard(ConnectionLimits())
    with running(prepared_app, guarded_protocol(guard), headers=[("X-Which", "one")]) as one, \
            running(prepared_app, guarded_protocol(guard), headers=[("X-Which", "two")], server_header=False) as two:
        for _ in range(5):
            a, b = exchange(one, get("/200", CLOSE)), exchange(two, get("/200", CLOSE))
            assert b"\r\nserver: uvicorn\r\nx-which: one\r\ncontent-length: 7\r\n" in a
            assert b"\r\nx-which: two\r\ncontent-length: 7\r\n" in b and b"server:" not in b


def test_a_server_header_uvicorn_would_refuse_is_left_to_uvicorn() -> None:
    """A default header (uvicorn's --header) with a control character: the prepared path does not write it;
    uvicorn's own refuses the answer (500 is not even possible: the connection is closed), as without it."""
    guard = ConnectionGuard(ConnectionLimits())
    options = {"headers": [("X-Bad", "a\x01b")]}
    with running(prepared_app, guarded_protocol(guard), **options) as fast, \
            running(prepared_app, "httptools", **options) as plain:
        a, b = exchange(fast, get("/200")), exchange(plain, get("/200"))
    assert a == b == b""


# ---- attacks: nothing unchecked goes out -------------------------------------------------------------------


BAD_VALUE_BYTES = [bytes([c]) for c in [*range(0, 9), *range(10, 32), 127]]


@pytest.mark.parametrize("bad", BAD_VALUE_BYTES)
def test_a_prepared_head_refuses_a_control_character_in_a_value(bad: bytes) -> None:
    with pytest.raises(ValueError):
        PreparedHead([(b"content-length", b"2"), (b"x-a", b"ok" + bad + b"set-cookie: pwned=1")])
    assert not httptools_impl.HEADER_VALUE_RE.search(b"ok\tfine")  # (tab: allowed, by uvicorn too)


@pytest.mark.parametrize("name", [b"x a", b"x:a", b"x\r\ny", b"x\ny", b"", b"x\x00", b"x\x7f", b'x"', b"x(y)",
                                  b"set-cookie\r\nx"])
def test_a_prepared_head_refuses_a_bad_name(name: bytes) -> None:
    with pytest.raises(ValueError):
        PreparedHead([(b"content-length", b"2"), (name, b"v")])


@pytest.mark.parametrize("headers", [
    [],  # no content-length
    [(b"content-length", b"2"), (b"Content-Length", b"3")],  # two
    [(b"content-length", b"-2")], [(b"content-length", b"2 ")], [(b"content-length", b"\xd9\xa2")],
    [(b"content-length", b"2"), (b"transfer-encoding", b"chunked")],
    [(b"content-length", b"2"), (b"Connection", b"close")],  # framing and the connection: uvicorn's to decide
])
def test_a_prepared_head_refuses_what_frames_the_response_otherwise(headers: list) -> None:
    with pytest.raises(ValueError):
        PreparedHead(headers)


def test_a_prepared_head_cannot_be_changed_once_checked() -> None:
    head = _json_head(b"{}")
    with pytest.raises(AttributeError):
        head.block = b"x-evil: 1\r\n"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        head.other = 1  # type: ignore[attr-defined]
    assert head.headers[0] == (b"content-length", b"2") and head.length == 2


class ForgedHead:
    """Looks like a PreparedHead, was never checked."""

    def __init__(self, headers: tuple, block: bytes) -> None:
        self.headers, self.block, self.length = headers, block, 2


async def forging_app(scope: dict, receive: Any, send: Any) -> None:
    """Tries to get an unchecked header out through the prepared path, three ways (by its path)."""
    if scope["type"] != "http":
        return
    await receive()
    good = _json_head(b"{}")
    evil = ((b"content-length", b"2"), (b"x-a", b"1\r\nset-cookie: pwned=1"))
    if scope["path"] == "/swapped":  # a checked head, but the message's headers are others
        message = {"type": "http.response.start", "status": 200, "headers": list(evil), PREPARED_HEAD: good}
    elif scope["path"] == "/forged":  # an object that is not a PreparedHead
        message = {"type": "http.response.start", "status": 200, "headers": evil,
                   PREPARED_HEAD: ForgedHead(evil, b"content-length: 2\r\nset-cookie: pwned=1\r\n")}
    else:  # a PreparedHead whose block was overwritten behind its back: its headers are then not the message's
        message = {"type": "http.response.start", "status": 200, "headers": evil, PREPARED_HEAD: good}
    await send(message)
    await send({"type": "http.response.body", "body": b"{}"})


@pytest.mark.parametrize("path", ["/swapped", "/forged", "/mismatched"])
def test_an_unchecked_header_never_goes_out_through_the_prepared_path(path: str) -> None:
    guard = ConnectionGuard(ConnectionLimits())
    with running(forging_app, guarded_protocol(guard)) as fast, running(forging_app, "httptools") as plain:
        a = exchange(fast, get(path, CLOSE))
        b = exchange(plain, get(path, CLOSE))
    assert b"pwned" not in a and b"set-cookie" not in a
    assert a == b == b""  # uvicorn's own path refuses the value and closes the connection, on both


# ---- what it assumes about uvicorn, pinned -------------------------------------------------------------------


def test_the_checks_are_uvicorns() -> None:
    from engine.ops import service

    assert service._HEADER_NAME_BAD.pattern == httptools_impl.HEADER_RE.pattern
    assert service._HEADER_VALUE_BAD.pattern == httptools_impl.HEADER_VALUE_RE.pattern


def test_this_uvicorn_writes_prepared_heads_as_the_prepared_cycle_does() -> None:
    base = _guarded_base()
    assert base.prepared_heads, "the self-check found this uvicorn writes heads otherwise"
    assert issubclass(base.prepared_cycle, httptools_impl.RequestResponseCycle)
    assert set(vars(base.prepared_cycle)) <= {"__module__", "__doc__", "__qualname__", "send"}


def test_the_self_check_notices_a_cycle_that_writes_otherwise() -> None:
    base = _guarded_base()

    class Extra(base.prepared_cycle):  # type: ignore[name-defined, misc]
        async def send(self, message: Any) -> None:
            await super().send(message)
            if message["type"] == "http.response.start":
                self.transport.write(b"x-more: 1\r\n")

    class NoClose(base.prepared_cycle):  # type: ignore[name-defined, misc]
        async def send(self, message: Any) -> None:
            self.keep_alive = True
            await super().send(message)

    class Chunked(base.prepared_cycle):  # type: ignore[name-defined, misc]
        async def send(self, message: Any) -> None:
            await super().send(message)
            self.chunked_encoding = None

    assert _cycles_agree(httptools_impl.RequestResponseCycle, base.prepared_cycle)
    for wrong in (Extra, NoClose, Chunked):
        assert not _cycles_agree(httptools_impl.RequestResponseCycle, wrong)


def test_the_cycle_uvicorn_makes_becomes_the_prepared_one_before_it_runs() -> None:
    """uvicorn's on_headers_complete makes a RequestResponseCycle and schedules its task; the guarded protocol
    changes its class right after, before the task looks up `send`."""
    from uvicorn.server import ServerState

    guard = ConnectionGuard(ConnectionLimits())
    seen: list[Any] = []

    async def app(scope: dict, receive: Any, send: Any) -> None:
        seen.append(send.__self__.__class__)
        await receive()
        await _send_json(send, 200, b"{}")

    class Transport:
        def __init__(self) -> None:
            self.data = bytearray()

        def write(self, data: bytes) -> None:
            self.data += data

        def is_closing(self) -> bool:
            return False

        def get_extra_info(self, name: str, default: Any = None) -> Any:
            return {"peername": ("127.0.0.1", 1), "sockname": ("127.0.0.1", 2)}.get(name, default)

        def close(self) -> None:
            pass

        def pause_reading(self) -> None:
            pass

        def resume_reading(self) -> None:
            pass

    async def scenario() -> bytes:
        config = uvicorn.Config(app, http=guarded_protocol(guard), ws="none", lifespan="off", log_level="critical")
        config.load()
        state = ServerState()
        state.default_headers = [(b"server", b"uvicorn")]
        proto = config.http_protocol_class(config=config, server_state=state, app_state={})
        transport = Transport()
        proto.connection_made(transport)
        proto.data_received(get("/", b"Content-Length: 0"))
        assert proto.cycle.__class__ is _guarded_base().prepared_cycle
        for _ in range(20):
            await asyncio.sleep(0)
        proto.connection_lost(None)
        return bytes(transport.data)

    wire = asyncio.run(scenario())
    assert seen == [_guarded_base().prepared_cycle]
    assert wire.startswith(b"HTTP/1.1 200 OK\r\nserver: uvicorn\r\ncontent-length: 2\r\ncontent-type: "
                           b"application/json\r\n") and wire.endswith(b"\r\n\r\n{}")
