"""A private Icinga 2 cluster on loopback: a certificate authority made with `icinga2 pki`,
daemons that each keep every path in their own directory, and a REST API client.

Each daemon is started in its own session and stopped by its PID (SIGTERM, then wait); the
session must then be empty, so that no worker or check it started outlives it.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engines import ICINGA, ICINGA_PATHS, PrivateEngine, icinga_daemon
from helpers import owned_by, private_directory, stop_process
from servers import free_port

USER = "nagios"
PKI_AS_ROOT = ["-DRunAsUser=root", "-DRunAsGroup=root"]


def wait_for(
    what: str, done: Callable[[], Any], alive: Callable[[], None] | None = None, timeout: float = 45
) -> Any:
    """Poll done() until it returns something true, checking alive() each time; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive:
            alive()
        result = done()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class CertificateAuthority:
    """A CA in a private DataDir, as `icinga2 pki new-ca` makes it on a master; it signs a
    certificate per node, whose CN is the node's NodeName and Endpoint name."""

    def __init__(self) -> None:
        self.base = private_directory("pki")
        self.defines = [*PKI_AS_ROOT, f"-DDataDir={self.base}", f"-DLogDir={self.base}/log"]
        self._pki("new-ca")
        self.certificate = self.base / "ca" / "ca.crt"

    def _pki(self, *args: str) -> None:
        subprocess.run(
            [ICINGA, "pki", *args, *self.defines], check=True, capture_output=True, text=True
        )

    def install(self, cn: str, certs: Path) -> None:
        """Key and signed certificate for cn, and the CA certificate, into certs (a DataDir's
        certs/), readable by the daemon's user only."""
        key, cert = self.base / f"{cn}.key", self.base / f"{cn}.crt"
        if not cert.exists():
            csr = self.base / f"{cn}.csr"
            self._pki("new-cert", "--cn", cn, "--key", str(key), "--csr", str(csr))
            self._pki("sign-csr", "--csr", str(csr), "--cert", str(cert))
        owned_by(USER, certs)
        certs.chmod(0o700)
        for source in (key, cert, self.certificate):
            shutil.copy(source, certs / source.name)
            shutil.chown(certs / source.name, USER, USER)

    def remove(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


class Node(PrivateEngine):
    """One `icinga2 daemon` whose configuration, zones, state, logs, caches, spool and run
    files all live in its private directory; it drops root to user nagios."""

    def __init__(self, name: str, ca: CertificateAuthority) -> None:
        super().__init__(f"icinga-{name}")
        self.name = name
        self.port = free_port()
        self.etc = self.base / "etc"
        self.zones = self.etc / "zones.d"
        self.plugins = self.base / "plugins"  # empty unless PluginDir is set elsewhere
        self.zones.mkdir(parents=True)
        self.plugins.mkdir()
        self.command = icinga_daemon(self.etc / "icinga2.conf", self.base)
        self.data = self.base / ICINGA_PATHS["DataDir"]
        ca.install(name, self.data / "certs")
        self.daemon: subprocess.Popen | None = None

    def configure(self, text: str) -> None:
        (self.etc / "icinga2.conf").write_text(text)

    def start(self) -> None:
        with (self.base / "daemon.log").open("w") as log:
            self.daemon = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return (self.base / "daemon.log").read_text()

    def assert_running(self) -> None:
        assert self.daemon and self.daemon.poll() is None, f"{self.name} ended:\n{self.log()}"

    def session(self) -> list[int]:
        """PIDs of the live processes in the daemon's session: it, its workers and checks."""
        assert self.daemon
        left = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                state, _, _, session = stat.read_text().rsplit(")", 1)[1].split()[:4]
            except (OSError, ValueError):
                continue
            if int(session) == self.daemon.pid and state != "Z":
                left.append(int(stat.parent.name))
        return left

    def users(self) -> set[str]:
        """The users the processes in the daemon's session run as."""
        users = set()
        for pid in self.session():
            with contextlib.suppress(FileNotFoundError):  # a check that just ended
                users.add(pwd.getpwuid(Path(f"/proc/{pid}").stat().st_uid).pw_name)
        return users

    def stop(self) -> None:
        """SIGTERM by PID, wait; a process left in the session afterwards fails the test
        (and is killed by its PID, so that nothing outlives the test). Stopping twice is
        harmless."""
        if not self.daemon:
            return
        stop_process(self.daemon, 30)
        try:
            wait_for(f"the processes of {self.name} to end", lambda: not self.session(), timeout=10)
        finally:
            for pid in self.session():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


class Api:
    """The REST API of a node, over TLS verified against the private CA (the certificate
    names the node, not 127.0.0.1), with an ApiUser's basic authentication."""

    def __init__(self, port: int, ca: Path, user: str, password: str) -> None:
        self.port = port
        self.context = ssl.create_default_context(cafile=str(ca))
        self.context.check_hostname = False
        credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.headers = {"Accept": "application/json", "Authorization": f"Basic {credentials}"}

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=self.context, timeout=10
        )
        headers = dict(self.headers)
        if method == "QUERY":  # a GET with a filter in the body
            method, headers["X-HTTP-Method-Override"] = "POST", "GET"
        try:
            connection.request(method, path, json.dumps(body or {}), headers)
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        finally:
            connection.close()

    def listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return True
