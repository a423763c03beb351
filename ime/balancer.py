"""`ime serve --workers N`: N Streamlit processes behind one address, each reader kept on one.

Why: one Streamlit process runs every session's script in a thread of its own, and all of them
take turns on one interpreter lock. With 8 readers at once on 2 cores the server ran no faster
with 8 script runs at a time than with 1 (docs/benchmark-findings.md): only more processes use
more cores. Everything the workers share is already a file several processes may write (the
database read-only; the audit log, sign-in attempts, reviews and watchlists through
`access.audit.connect_when_free`); what a worker keeps in memory (a reader's session, its
downloads, its caches) stays right because a reader always reaches the same worker.

How: this process listens on the public address and passes each connection to one worker on a
loopback port. The worker is the one the request's cookie names; without one (or with a value
naming no worker) the next in turn, and the response sets the cookie. Each connection carries
one request (this process asks the worker to close it after its response), so every request's
header block is read here. That is where the client's address is set: the workers' server
(uvicorn) believes X-Forwarded-For from the loopback address, so the header is taken out of
what the client sent and written again with the address this process saw. The sign-in rate
limit per address (access/auth.py) then counts the browser, not this process. Everything else
passes unchanged, the websocket after its upgrade included, so the workers' own checks (origin,
XSRF, sign-in) stay where they are. The workers share one cookie secret, so a token one signed
is accepted by another.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence

# The cookie naming a reader's worker: a small integer, checked against the workers' count.
WORKER_COOKIE = "ime_worker"
_COOKIE_VALUE = re.compile(rb"(?:^|;)\s*" + WORKER_COOKIE.encode() + rb"=(\d{1,3})\s*(?:;|$)")
# Headers that say who the client is or how it connected: only this process may write them.
FORWARDING_HEADERS = frozenset({
    b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-port",
    b"forwarded", b"x-real-ip",
})
# A connection's own headers, replaced by "Connection: close" on a request that is not a
# websocket upgrade. ("Expect: 100-continue" goes too: the body is passed on before the
# response is read, so a client waiting for a "100 Continue" sends it after its own pause.)
CONNECTION_HEADERS = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"expect"})
# A request's header block larger than this is refused (431); a response's, dropped.
MAX_HEADER_BYTES = 64 * 1024
HEADER_TIMEOUT_S = 30.0
# Streamlit's own limit on an upload (server.maxUploadSize, 200 MB by default): a larger body
# would only hold a connection to a worker while it trickles in.
MAX_BODY_BYTES = 200 * 1024 * 1024
# How long the answer to a websocket upgrade the worker refused may take to arrive.
REFUSED_UPGRADE_S = 10.0
CHUNK_BYTES = 256 * 1024
START_TIMEOUT_S = 120.0
# How often the front looks whether a worker has exited.
WORKER_CHECK_S = 1.0


def default_workers() -> int:
    """One worker per core this process may use, at most 4: each worker keeps its own caches."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def _stop_with_parent() -> None:
    """In a worker, before it runs: Linux ends it when `ime serve` ends, however that ends."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    """A TCP port free on the loopback address now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BadRequest(ValueError):
    """A request this process refuses to pass on: its status line and the reason."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class Request:
    """One request's header block as read from the client, and what routing needs of it."""

    def __init__(self, head: bytes) -> None:
        lines = head[:-4].split(b"\r\n")
        self.start_line = lines[0]
        self.headers: list[tuple[bytes, bytes]] = []
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            # Folded lines and names with spaces are ways to make two parsers disagree.
            if not colon or not name or name != name.strip() or line[:1] in (b" ", b"\t"):
                raise BadRequest("400 Bad Request", "a malformed header line")
            self.headers.append((name.lower(), value.strip()))
        names = [name for name, _ in self.headers]
        if b"transfer-encoding" in names:
            raise BadRequest("411 Length Required", "a request body must give its length")
        lengths = {value for name, value in self.headers if name == b"content-length"}
        if len(lengths) > 1 or not all(v.isdigit() for v in lengths):
            raise BadRequest("400 Bad Request", "an unclear Content-Length")
        self.body_bytes = int(lengths.pop()) if lengths else 0
        if self.body_bytes > MAX_BODY_BYTES:
            raise BadRequest("413 Content Too Large", "a request body over Streamlit's limit")
        connection = b",".join(v for n, v in self.headers if n == b"connection").lower()
        self.upgrade = b"upgrade" in names and b"upgrade" in connection

    def cookie_worker(self, workers: int) -> int | None:
        """The worker the request's cookie names, if it names one of `workers`."""
        for name, value in self.headers:
            if name == b"cookie":
                found = _COOKIE_VALUE.search(value)
                if found and int(found.group(1)) < workers:
                    return int(found.group(1))
        return None

    def forwarded(self, client_address: str) -> bytes:
        """The header block to send the worker: the client's address as this process saw it,
        and, unless it is a websocket upgrade, a request to close the connection after it."""
        keep = [
            (n, v) for n, v in self.headers
            if n not in FORWARDING_HEADERS
            and (n not in CONNECTION_HEADERS or (self.upgrade and n == b"connection"))
        ]
        keep.append((b"x-forwarded-for", client_address.encode("ascii", "replace")))
        if not self.upgrade:
            keep.append((b"connection", b"close"))
        lines = [self.start_line] + [n + b": " + v for n, v in keep]
        return b"\r\n".join(lines) + b"\r\n\r\n"


class Workers:
    """The workers' loopback ports, and whose turn a new reader is."""

    def __init__(self, ports: Sequence[int]) -> None:
        self.ports = list(ports)
        self._turn = itertools.cycle(range(len(self.ports)))

    def pick(self, request: Request) -> tuple[int, bool]:
        """(worker index, whether it is a new choice the reader must be told by cookie)."""
        named = request.cookie_worker(len(self.ports))
        if named is not None:
            return named, False
        return next(self._turn), True


def _status(response_head: bytes) -> bytes:
    """The status code of a response's header block ('' when it has none)."""
    parts = response_head.split(b" ", 2)
    return parts[1] if len(parts) > 1 else b""


def with_cookie(response_head: bytes, index: int) -> bytes:
    """The response header block with a Set-Cookie naming worker `index`: on a final response
    or a websocket's 101, not on an interim one (100, 103), which a browser takes none from."""
    status = _status(response_head)
    if not status or (status.startswith(b"1") and status != b"101"):
        return response_head
    cookie = f"Set-Cookie: {WORKER_COOKIE}={index}; Path=/; HttpOnly; SameSite=Strict\r\n"
    return response_head[:-2] + cookie.encode("ascii") + b"\r\n"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(CHUNK_BYTES):
        writer.write(data)
        await writer.drain()


async def _copy_exactly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        size: int) -> None:
    while size > 0:
        data = await reader.read(min(size, CHUNK_BYTES))
        if not data:
            raise ConnectionError("the client closed before the end of its request body")
        writer.write(data)
        await writer.drain()
        size -= len(data)


def _refuse(writer: asyncio.StreamWriter, status: str, reason: str) -> None:
    body = reason.encode("ascii") + b"\n"
    writer.write(
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n".encode("ascii") + body
    )


async def _join(workers: Workers, client_reader: asyncio.StreamReader,
                client_writer: asyncio.StreamWriter) -> None:
    """One client connection: its request passed to its worker, the response passed back; a
    websocket, both ways until either side closes."""
    backend_writer = None
    try:
        try:
            head = await asyncio.wait_for(
                client_reader.readuntil(b"\r\n\r\n"), HEADER_TIMEOUT_S
            )
            request = Request(head)
        except BadRequest as exc:
            _refuse(client_writer, exc.status, str(exc))
            return
        except asyncio.LimitOverrunError:
            _refuse(client_writer, "431 Request Header Fields Too Large", "headers too large")
            return
        except (asyncio.IncompleteReadError, TimeoutError):
            return
        index, new = workers.pick(request)
        peer = client_writer.get_extra_info("peername")
        backend_reader, backend_writer = await asyncio.open_connection(
            "127.0.0.1", workers.ports[index], limit=MAX_HEADER_BYTES
        )
        backend_writer.write(request.forwarded(str(peer[0]) if peer else ""))
        # One request per connection: its body, and nothing the client sends after it unless
        # the worker switches the connection to a websocket.
        await _copy_exactly(client_reader, backend_writer, request.body_bytes)
        response = await backend_reader.readuntil(b"\r\n\r\n")
        client_writer.write(with_cookie(response, index) if new else response)
        downstream = asyncio.ensure_future(_pipe(backend_reader, client_writer))
        if request.upgrade and _status(response) == b"101":
            upstream = asyncio.ensure_future(_pipe(client_reader, backend_writer))
            _, pending = await asyncio.wait(
                {upstream, downstream}, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
        else:
            # The worker closes the connection after a response to "Connection: close"; a
            # refused upgrade could leave it open, so that one is given a time limit.
            limit = None if not request.upgrade else REFUSED_UPGRADE_S
            try:
                await asyncio.wait_for(downstream, limit)
            except TimeoutError:
                pass
    except (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    finally:
        for writer in (client_writer, backend_writer):
            if writer is not None:
                writer.close()


def _wait_healthy(ports: Sequence[int], procs: Sequence[subprocess.Popen]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    for port, proc in zip(ports, procs, strict=True):
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"a dashboard worker exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("a dashboard worker did not start in time") from None
                time.sleep(0.2)


def serve(streamlit_argv: Sequence[str], env: dict[str, str], address: str, port: int,
          workers: int) -> int:
    """Start `workers` Streamlit processes (`streamlit_argv` without address and port) and
    forward `address:port` to them until interrupted; the workers stop with this process."""
    env = {**env, "STREAMLIT_SERVER_COOKIE_SECRET": secrets.token_hex(32)}
    ports = [free_port() for _ in range(workers)]
    procs = [
        subprocess.Popen(
            [*streamlit_argv, "--server.port", str(p), "--server.address", "127.0.0.1"],
            env=env,
            # Its banner names its own loopback address, not the one readers use (printed
            # below); its log and errors go to standard error as before.
            stdout=subprocess.DEVNULL,
            preexec_fn=_stop_with_parent,
        )
        for p in ports
    ]

    def stop() -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()

    try:
        _wait_healthy(ports, procs)
        print(f"ime serve: {workers} workers at http://{address}:{port}", file=sys.stderr)
        exited = asyncio.run(_listen(Workers(ports), procs, address, port))
    except (RuntimeError, OSError) as exc:  # a worker that did not start; the port taken
        print(f"ime serve: {exc}", file=sys.stderr)
        return 1
    finally:
        stop()
    if exited is not None:
        # Half the readers would find nothing: better to stop and be restarted whole.
        print(f"ime serve: a dashboard worker exited with {exited}; the others were stopped",
              file=sys.stderr)
        return 1
    return 0


async def open_server(workers: Workers, address: str, port: int) -> asyncio.Server:
    """A server on `address:port` passing every connection to one of `workers`.

    One socket, bound as Streamlit's own server (uvicorn) binds `--server.address`: IPv6 only
    for an address with a colon, so that "localhost" means 127.0.0.1 as it did, and a host
    without IPv6 is not refused for its ::1.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
    except OSError:
        sock.close()
        raise
    return await asyncio.start_server(
        lambda r, w: _join(workers, r, w), sock=sock, limit=MAX_HEADER_BYTES
    )


async def _listen(workers: Workers, procs: Sequence[subprocess.Popen], address: str,
                  port: int) -> int | None:
    """Serve until SIGINT or SIGTERM (None), or until a worker exits (its exit code)."""
    server = await open_server(workers, address, port)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    async with server:
        while not done.is_set():
            for proc in procs:
                if proc.poll() is not None:
                    return proc.returncode
            try:
                await asyncio.wait_for(done.wait(), WORKER_CHECK_S)
            except TimeoutError:
                pass
    return None
