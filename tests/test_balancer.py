"""`ime serve --workers N`'s front (ime/balancer.py): which worker a request reaches, what
reaches it, and what a client cannot make it do.

The routing is checked on real sockets against two small HTTP servers standing in for the
workers, each saying who it is and what it received; `tests/app/test_concurrency.py` runs the
dashboard's pages through the front on real Streamlit workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json

import pytest

from ime import balancer
from ime.balancer import BadRequest, Request, Workers, with_cookie

# --- One request's header block ------------------------------------------------------------------


def _head(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _header_lines(block: bytes) -> list[str]:
    return block.decode().split("\r\n")[1:-2]


def test_the_client_cannot_say_who_it_is_the_front_says_it():
    # uvicorn, the workers' server, believes X-Forwarded-For from the loopback address, which
    # is where every request through the front comes from: a client's own must never pass.
    request = Request(_head(
        "GET /_stcore/health HTTP/1.1", "Host: example.org", "X-Forwarded-For: 6.6.6.6",
        "x-forwarded-proto: https", "Forwarded: for=6.6.6.6", "X-Real-IP: 6.6.6.6",
        "Connection: keep-alive", "Keep-Alive: timeout=5", "Expect: 100-continue",
    ))
    assert _header_lines(request.forwarded("203.0.113.9")) == [
        "host: example.org", "x-forwarded-for: 203.0.113.9", "connection: close",
    ]


def test_a_websocket_upgrade_keeps_its_connection_headers():
    request = Request(_head(
        "GET /_stcore/stream HTTP/1.1", "Host: h", "Connection: Upgrade", "Upgrade: websocket",
        "Sec-WebSocket-Protocol: streamlit, token", "X-Forwarded-For: 6.6.6.6",
    ))
    assert request.upgrade
    assert _header_lines(request.forwarded("198.51.100.7")) == [
        "host: h", "connection: Upgrade", "upgrade: websocket",
        "sec-websocket-protocol: streamlit, token", "x-forwarded-for: 198.51.100.7",
    ]


@pytest.mark.parametrize(
    ("lines", "status"),
    [
        (["Host: h", " folded: on a second line"], "400 Bad Request"),
        (["Host : h"], "400 Bad Request"),
        (["Host: h", "no colon here"], "400 Bad Request"),
        (["Host: h", "Content-Length: 5", "Content-Length: 6"], "400 Bad Request"),
        (["Host: h", "Content-Length: -1"], "400 Bad Request"),
        (["Host: h", "Transfer-Encoding: chunked"], "411 Length Required"),
        (["Host: h", f"Content-Length: {200 * 1024 * 1024 + 1}"], "413 Content Too Large"),
    ],
)
def test_a_header_block_two_parsers_could_read_differently_is_refused(lines, status):
    with pytest.raises(BadRequest) as refused:
        Request(_head("POST / HTTP/1.1", *lines))
    assert refused.value.status == status


@pytest.mark.parametrize(
    ("cookie", "worker"),
    [
        ("ime_worker=1", 1),
        ("a=b; ime_worker=1; c=d", 1),
        ("ime_worker=0", 0),
        ("ime_worker=2", None),  # no such worker
        ("ime_worker=-1", None),
        ("ime_worker=1x", None),
        ("xime_worker=1", None),
        ("ime_worker=../1", None),
        ("ime_worker=00000001", None),  # more digits than any worker's number has
    ],
)
def test_the_cookie_names_a_worker_only_when_there_is_one_by_that_number(cookie, worker):
    request = Request(_head("GET / HTTP/1.1", "Host: h", f"Cookie: {cookie}"))
    assert request.cookie_worker(2) == worker


def test_new_readers_take_the_workers_in_turn_and_a_cookie_keeps_its_worker():
    workers = Workers([1001, 1002])
    bare = Request(_head("GET / HTTP/1.1", "Host: h"))
    named = Request(_head("GET / HTTP/1.1", "Host: h", "Cookie: ime_worker=0"))
    assert [workers.pick(bare) for _ in range(3)] == [(0, True), (1, True), (0, True)]
    assert workers.pick(named) == (0, False)
    assert workers.pick(bare) == (1, True)


@pytest.mark.parametrize(
    ("status", "cookie"),
    [("200 OK", True), ("101 Switching Protocols", True), ("404 Not Found", True),
     ("100 Continue", False), ("103 Early Hints", False)],
)
def test_the_cookie_goes_on_a_final_response_or_a_websocket_switch(status, cookie):
    head = f"HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n".encode()
    expected = head[:-2] + b"Set-Cookie: ime_worker=1; Path=/; HttpOnly; SameSite=Strict\r\n\r\n"
    assert with_cookie(head, 1) == (expected if cookie else head)


# --- On real sockets ----------------------------------------------------------------------------


class StandIn:
    """A worker's stand-in: answers each request with its name, the request's header lines and
    the sha256 of its body, as JSON; keeps the connection open unless asked to close it (so a
    second request on one connection would reach it). `mode` "websocket" switches an upgrade
    request to echoing bytes in capitals; "refuse" answers an upgrade 403 and keeps the
    connection open."""

    def __init__(self, name: str, mode: str = "http") -> None:
        self.name, self.mode = name, mode
        self.heads: list[list[str]] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = _header_lines(head)
                self.heads.append(lines)
                fields = dict(line.split(": ", 1) for line in lines)
                body = await reader.readexactly(int(fields.get("content-length", "0")))
                if "upgrade" in fields and self.mode == "websocket":
                    writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                 b"Connection: Upgrade\r\n\r\n")
                    while data := await reader.read(65536):
                        writer.write(data.upper())
                    return
                if "upgrade" in fields and self.mode == "refuse":
                    writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
                    continue
                answer = json.dumps({
                    "name": self.name, "headers": lines,
                    "body_sha256": hashlib.sha256(body).hexdigest(),
                }).encode()
                head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(answer)
                writer.write(head + answer)
                await writer.drain()
                if fields.get("connection") == "close":
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def _front(*stand_ins: StandIn):
    """The front's port, passing connections to `stand_ins`; every server closed on leaving."""
    servers = [await asyncio.start_server(s.serve, "127.0.0.1", 0) for s in stand_ins]
    ports = [srv.sockets[0].getsockname()[1] for srv in servers]
    front = await balancer.open_server(Workers(ports), "127.0.0.1", 0)
    try:
        yield front.sockets[0].getsockname()[1]
    finally:
        for srv in [front, *servers]:
            srv.close()


async def _exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send `data` on a new connection; everything received until the front closes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    received = await asyncio.wait_for(reader.read(-1), timeout)
    writer.close()
    return received


def _answer(raw: bytes) -> tuple[list[str], dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return head.decode().split("\r\n"), json.loads(body)


def _run(scenario) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_readers_are_shared_out_in_turn_and_kept_on_their_worker_by_cookie():
    async def scenario():
        a, b = StandIn("A"), StandIn("B")
        async with _front(a, b) as port:
            bare = _head("GET /x HTTP/1.1", "Host: h")
            first_head, first = _answer(await _exchange(port, bare))
            second_head, second = _answer(await _exchange(port, bare))
            back = _head("GET /x HTTP/1.1", "Host: h", "Cookie: ime_worker=1")
            third_head, third = _answer(await _exchange(port, back))
            assert [first["name"], second["name"], third["name"]] == ["A", "B", "B"]
            cookie = "Set-Cookie: ime_worker={}; Path=/; HttpOnly; SameSite=Strict"
            assert cookie.format(0) in first_head
            assert cookie.format(1) in second_head
            assert not any(line.startswith("Set-Cookie") for line in third_head)

    _run(scenario)


def test_a_worker_hears_the_clients_address_from_the_front_only():
    async def scenario():
        a = StandIn("A")
        async with _front(a) as port:
            forged = _head("GET / HTTP/1.1", "Host: h", "X-Forwarded-For: 6.6.6.6",
                           "Forwarded: for=6.6.6.6")
            _, answer = _answer(await _exchange(port, forged))
            assert answer["headers"] == [
                "host: h", "x-forwarded-for: 127.0.0.1", "connection: close",
            ]

    _run(scenario)


def test_a_second_request_on_one_connection_never_reaches_a_worker():
    # Were it passed on, its forged address would be believed: the front reads only the first
    # request of a connection, so the worker must only ever see that one.
    async def scenario():
        a = StandIn("A")
        async with _front(a) as port:
            first = _head("GET /one HTTP/1.1", "Host: h")
            second = _head("GET /two HTTP/1.1", "Host: h", "X-Forwarded-For: 6.6.6.6")
            raw = await _exchange(port, first + second)
            assert raw.count(b"HTTP/1.1 200") == 1
            assert [lines[:1] for lines in a.heads] == [["host: h"]]
            assert len(a.heads) == 1

    _run(scenario)


def test_a_request_body_passes_unchanged():
    async def scenario():
        a = StandIn("A")
        async with _front(a) as port:
            body = bytes(range(256)) * 4096  # 1 MiB, every byte value
            request = _head("PUT /_stcore/upload_file/x HTTP/1.1", "Host: h",
                            f"Content-Length: {len(body)}") + body
            _, answer = _answer(await _exchange(port, request))
            assert answer["body_sha256"] == hashlib.sha256(body).hexdigest()

    _run(scenario)


def test_a_websocket_passes_both_ways_after_its_upgrade():
    async def scenario():
        a = StandIn("A", mode="websocket")
        async with _front(a) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(_head("GET /_stcore/stream HTTP/1.1", "Host: h", "Connection: Upgrade",
                               "Upgrade: websocket"))
            switched = await reader.readuntil(b"\r\n\r\n")
            assert switched.startswith(b"HTTP/1.1 101 ")
            assert b"Set-Cookie: ime_worker=0" in switched
            writer.write(b"hello, worker")
            assert await reader.readexactly(13) == b"HELLO, WORKER"
            writer.close()

    _run(scenario)


def test_a_refused_upgrade_does_not_leave_the_connection_open(monkeypatch):
    monkeypatch.setattr(balancer, "REFUSED_UPGRADE_S", 0.5)

    async def scenario():
        a = StandIn("A", mode="refuse")
        async with _front(a) as port:
            upgrade = _head("GET /_stcore/stream HTTP/1.1", "Host: h", "Connection: Upgrade",
                            "Upgrade: websocket")
            then = _head("GET /two HTTP/1.1", "Host: h", "X-Forwarded-For: 6.6.6.6")
            raw = await _exchange(port, upgrade + then, timeout=5)
            assert raw.startswith(b"HTTP/1.1 403 ")
            assert len(a.heads) == 1  # the second request never reached the worker

    _run(scenario)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (_head("POST / HTTP/1.1", "Host: h", "Transfer-Encoding: chunked") + b"0\r\n\r\n",
         b"411"),
        (_head("GET / HTTP/1.1", "Host: h", " folded"), b"400"),
        (_head("GET / HTTP/1.1", "Host: h", "X-Big: " + "x" * (64 * 1024)), b"431"),
    ],
)
def test_a_refused_request_reaches_no_worker(request_bytes, status):
    async def scenario():
        a = StandIn("A")
        async with _front(a) as port:
            raw = await _exchange(port, request_bytes)
            assert raw.split(b" ")[1] == status
            assert a.heads == []

    _run(scenario)
