"""SMTP peers on loopback for tests, the demo and the benchmarks.

`smtpd()` runs aiosmtpd, a real and well-behaved server. `ScriptedServer` runs a small
script per connection, for every way a server can misbehave.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, AuthResult


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, log: Callable[[], str], seconds: float = 15) -> None:
    """Return once a daemon listens on 127.0.0.1:port, or raise RuntimeError with its log."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}:\n{log()}")


def stop_by_pid(pid_file: Path, signum: int | None = signal.SIGTERM) -> None:
    """Stop a daemon by the PID in its pid file: signum (None: it was asked already), then
    SIGKILL if it is still there after 10 s."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    if signum is not None:
        os.kill(pid, signum)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class SlowEHLO:
    """aiosmtpd handler that waits before answering EHLO and HELO."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        await asyncio.sleep(self.delay)
        session.host_name = hostname
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):  # noqa: N802
        await asyncio.sleep(self.delay)
        session.host_name = hostname
        return f"250 {server.hostname}"


class SlowSteps(SlowEHLO):
    """SlowEHLO that also waits before it takes up AUTH and before it answers each RCPT TO."""

    def __init__(self, ehlo_delay: float, auth_delay: float, rcpt_delay: float) -> None:
        super().__init__(ehlo_delay)
        self.auth_delay = auth_delay
        self.rcpt_delay = rcpt_delay

    async def handle_AUTH(self, server, session, envelope, args):  # noqa: N802
        await asyncio.sleep(self.auth_delay)
        return MISSING  # aiosmtpd's own mechanism and authenticator take it from here

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        await asyncio.sleep(self.rcpt_delay)
        envelope.rcpt_tos.append(address)
        return "250 OK"


@contextlib.contextmanager
def smtpd(
    host: str = "127.0.0.1",
    ehlo_delay: float = 0.0,
    port: int | None = None,
    *,
    auth_delay: float = 0.0,
    rcpt_delay: float = 0.0,
    **smtp_options,
) -> Iterator[int]:
    """aiosmtpd listening on host (on a free port unless given); yields its port. It waits
    ehlo_delay before each EHLO/HELO reply, and auth_delay and rcpt_delay before AUTH and
    each RCPT TO when they are given."""
    steps = auth_delay or rcpt_delay
    controller = Controller(
        SlowSteps(ehlo_delay, auth_delay, rcpt_delay) if steps else SlowEHLO(ehlo_delay),
        hostname=host,
        port=port or free_port(host),
        server_hostname="mx.test",
        **smtp_options,
    )
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


def authenticator(user: str, password: str) -> Callable[..., AuthResult]:
    """An aiosmtpd authenticator (PLAIN, LOGIN) that knows one user."""
    expected = (user.encode(), password.encode())

    def authenticate(_server, _session, _envelope, _mechanism, auth_data) -> AuthResult:
        return AuthResult(success=(auth_data.login, auth_data.password) == expected)

    return authenticate


class Peer:
    """One accepted connection, seen from a script."""

    def __init__(self, conn: socket.socket, server: ScriptedServer) -> None:
        self.conn = conn
        self.server = server
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.conn.sendall(data)

    def line(self) -> bytes:
        """The next command line (recorded in server.received); b'' when the client left."""
        while b"\n" not in self.buffer:
            chunk = self.conn.recv(4096)
            if not chunk:
                return b""
            self.buffer += chunk
            self.server.received += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line + b"\n"

    def hold(self) -> None:
        """Say nothing until the client leaves or the server stops."""
        self.conn.settimeout(0.1)
        while not self.server.stopping.is_set():
            try:
                chunk = self.conn.recv(4096)
            except socket.timeout:  # TimeoutError only from Python 3.10 on
                continue
            if not chunk:
                return
            self.server.received += chunk

    def converse(self, replies: dict[bytes, bytes]) -> None:
        """Answer each command by its verb from replies; QUIT gets 221 and ends."""
        while line := self.line():
            verb = line.split()[0].upper() if line.split() else b""
            if verb == b"QUIT":
                self.send(b"221 2.0.0 Bye\r\n")
                return
            self.send(replies.get(verb, b"502 5.5.2 Command not recognized\r\n"))


Script = Callable[[Peer], None]


class ScriptedServer:
    """A TCP server on loopback that runs `script` for each connection, in a thread."""

    def __init__(self, script: Script, host: str = "127.0.0.1", port: int = 0) -> None:
        self.script = script
        self.received = bytearray()
        self.connections = 0
        self.stopping = threading.Event()
        self.listener = socket.create_server(
            (host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET
        )
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.threads: list[threading.Thread] = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:  # TimeoutError only from Python 3.10 on
                continue
            except OSError:
                return
            self.connections += 1
            worker = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            worker.start()
            self.threads.append(worker)

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            self.script(Peer(conn, self))

    def stop(self) -> None:
        self.stopping.set()
        self.acceptor.join(2)
        self.listener.close()
        for worker in self.threads:
            worker.join(2)

    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def trickle(data: bytes, interval: float) -> Script:
    """A script that sends data one byte per interval."""

    def script(peer: Peer) -> None:
        for byte in data:
            if peer.server.stopping.wait(interval):
                return
            peer.send(bytes([byte]))
        peer.hold()

    return script


def delayed(banner_delay: float, ehlo_delay: float, observed: list | None = None) -> Script:
    """A correct SMTP peer that waits before its banner and before its EHLO reply; it appends
    to `observed` how long it really took, from the accept to the EHLO reply sent."""

    def script(peer: Peer) -> None:
        started = time.perf_counter()
        time.sleep(banner_delay)
        peer.send(b"220 delay.test ESMTP\r\n")
        while line := peer.line():
            if line[:4].upper() == b"QUIT":
                peer.send(b"221 Bye\r\n")
                return
            time.sleep(ehlo_delay)
            peer.send(b"250 delay.test\r\n")
            if observed is not None:
                observed.append(time.perf_counter() - started)

    return script
