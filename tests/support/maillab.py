"""A mail domain lab on loopback, for the --mx, --dane and --mta-sts tests.

Knot DNS serves the zones the lab writes (signed.example and bogus.example signed by Knot's
automatic DNSSEC signing, lab.example unsigned). Unbound validates in front of it: stub zones
point at Knot, and its trust anchors are signed.example's DS as Knot's keymgr exports it and,
for bogus.example, a DS that matches no key (every answer there is bogus: SERVFAIL). SMTP
servers (aiosmtpd, STARTTLS) listen on one port on several loopback addresses, each with a
certificate from a test CA, and an HTTPS server on port 443 serves the MTA-STS policies.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from helpers import private_directory, stop_process, unavailable
from servers import free_port, smtpd

# Each SMTP listener's address and the names its certificate carries.
LISTENERS = {
    "127.0.0.2": ["mx1.lab.example", "mx1.signed.example"],
    "127.0.0.3": ["mx2.lab.example", "mx2.signed.example", "mxbad.signed.example"],
    "127.0.0.4": ["elsewhere.example"],  # a certificate without the MX host's name
    "::1": ["mx1.lab.example", "mx6.lab.example"],
}
DEAD = "127.0.0.9"  # nothing listens here
POLICY_ADDRESS = "127.0.0.44"  # the MTA-STS policy server, on port 443
POLICY = "version: STSv1\r\nmode: {mode}\r\n{mx}max_age: 86400\r\n"
# MTA-STS policies by domain: mode and mx patterns (and a Content-Type other than
# text/plain); None: the server never answers; "missing": the server has none (404)
POLICIES = {
    "sts.lab.example": ("enforce", ["mx1.lab.example"]),
    "sts-outside.lab.example": ("enforce", ["mx1.lab.example"]),
    "sts-noname.lab.example": ("enforce", ["*.lab.example"]),
    "sts-testing.lab.example": ("testing", ["mx1.lab.example"]),
    "sts-testing-noname.lab.example": ("testing", ["*.lab.example"]),
    "sts-slow.lab.example": None,
    "sts-404.lab.example": "missing",
    "sts-type.lab.example": ("enforce", ["mx1.lab.example"], "text/plainfoo"),
}

LAB_ZONE = """\
mx1 A 127.0.0.2
mx1 AAAA ::1
mx2 A 127.0.0.3
mx6 AAAA ::1
mx-dead A {dead}
mx-noname A 127.0.0.4
all MX 10 mx1
all MX 20 mx2
onedead MX 10 mx1
onedead MX 20 mx-dead
alldead MX 10 mx-dead
nomx A 127.0.0.2
nullmx MX 0 .
v6only MX 10 mx6
unsigned-tlsa MX 10 mx2
_{port}._tcp.mx2 TLSA 3 1 1 {spki_mx2}
sts MX 10 mx1
sts-outside MX 10 mx1
sts-outside MX 20 mx2
sts-noname MX 10 mx1
sts-noname MX 20 mx-noname
sts-testing MX 10 mx1
sts-testing MX 20 mx2
sts-testing-noname MX 10 mx1
sts-testing-noname MX 20 mx-noname
sts-slow MX 10 mx1
sts-404 MX 10 mx1
sts-type MX 10 mx1
nxhost MX 10 mx1
nxhost MX 20 mx-missing
"""
SIGNED_ZONE = """\
mx1 A 127.0.0.2
_{port}._tcp.mx1 TLSA 3 1 1 {spki_mx1}
mx2 A 127.0.0.3
mxbad A 127.0.0.3
_{port}._tcp.mxbad TLSA 3 1 1 {spki_mx1}
dane MX 10 mx1
dane-bad MX 10 mxbad
notlsa MX 10 mx2
"""
BOGUS_ZONE = "@ MX 10 mx1.lab.example.\n"


def spki_sha256(pem: bytes) -> str:
    """TLSA 3 1 1 data: SHA-256 of the certificate's SubjectPublicKeyInfo, in hex."""
    key = x509.load_pem_x509_certificate(pem).public_key()
    return hashlib.sha256(
        key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    ).hexdigest()


def _zone(origin: str, records: str) -> str:
    head = f"$ORIGIN {origin}.\n$TTL 60\n@ SOA ns hostmaster 1 3600 600 86400 60\n"
    return head + "@ NS ns\nns A 127.0.0.1\n" + records


def program(name: str) -> str:
    """The path of a Knot or Unbound program ('' when missing); daemons live in /usr/sbin,
    which a non-login PATH may lack."""
    return shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin") or ""


class Daemon:
    """A foreground daemon with its output in a log file, stopped by PID."""

    def __init__(self, command: list[str], log: Path) -> None:
        self.log = log
        with log.open("w") as out:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )

    def wait_for(self, ready, what: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{what} did not come up:\n{self.log.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        stop_process(self.process)


def _dig(port: int, *query: str) -> str:
    proc = subprocess.run(
        [program("kdig"), "@127.0.0.1", "-p", str(port), "+time=1", "+retry=0", *query],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout


def knot(base: Path, zones: dict[str, str], signed: list[str]) -> tuple[Daemon, int]:
    """Knot serving the zones on a free loopback port; the signed ones once signed."""
    port = free_port()
    for name, text in zones.items():
        (base / f"{name}.zone").write_text(_zone(name, text))
    zone_list = "".join(
        f"  - domain: {name}\n" + ("    dnssec-signing: on\n" if name in signed else "")
        for name in zones
    )
    config = base / "knot.conf"
    config.write_text(
        f"server:\n  listen: 127.0.0.1@{port}\n  rundir: {base}\n"
        f"database:\n  storage: {base}\n"
        f"control:\n  listen: {base}/knot.sock\n"
        "log:\n  - target: stderr\n    any: info\n"
        f'template:\n  - id: default\n    storage: {base}\n    file: "%s.zone"\n'
        f"zone:\n{zone_list}"
    )
    daemon = Daemon([program("knotd"), "-c", str(config)], base / "knot.log")
    daemon.wait_for(
        lambda: (
            all("RRSIG" in _dig(port, "+dnssec", "SOA", name) for name in signed)
            and all("SOA" in _dig(port, "SOA", name) for name in zones)
        ),
        "knotd",
    )
    return daemon, port


def exported_ds(base: Path, zone: str) -> list[str]:
    """The zone's DS records, as Knot's key manager exports them."""
    proc = subprocess.run(
        [program("keymgr"), "-c", str(base / "knot.conf"), zone, "ds"],
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.splitlines()


def unbound(base: Path, knot_port: int, zones: list[str], anchors: list[str]) -> tuple[Daemon, int]:
    """A validating Unbound on a free loopback port, forwarding the zones to Knot."""
    port = free_port()
    lines = [
        "server:",
        "  interface: 127.0.0.1",
        f"  port: {port}",
        "  do-daemonize: no",
        '  username: ""',
        '  chroot: ""',
        f'  directory: "{base}"',
        f'  pidfile: "{base}/unbound.pid"',
        "  use-syslog: no",
        "  verbosity: 1",
        "  do-not-query-localhost: no",
        '  module-config: "validator iterator"',
        "  ede: yes",
        *(f'  trust-anchor: "{anchor}"' for anchor in anchors),
        "remote-control:",
        "  control-enable: no",
    ]
    for zone in zones:
        lines += ["stub-zone:", f'  name: "{zone}"', f"  stub-addr: 127.0.0.1@{knot_port}"]
    config = base / "unbound.conf"
    config.write_text("\n".join(lines) + "\n")
    daemon = Daemon([program("unbound"), "-c", str(config)], base / "unbound.log")
    daemon.wait_for(lambda: "NOERROR" in _dig(port, "SOA", zones[0]), "unbound")
    return daemon, port


class PolicyHandler(http.server.BaseHTTPRequestHandler):
    """Serves /.well-known/mta-sts.txt for the policy host the request names."""

    def do_GET(self) -> None:
        domain = (self.headers.get("Host") or "").removeprefix("mta-sts.")
        if domain not in POLICIES or self.path != "/.well-known/mta-sts.txt":
            self.send_error(404)
            return
        policy = POLICIES[domain]
        if policy == "missing":
            self.send_error(404)
            return
        if policy is None:
            self.server.stopping.wait(30)  # type: ignore[attr-defined]
            return
        mode, patterns, *content_type = policy
        body = POLICY.format(mode=mode, mx="".join(f"mx: {p}\r\n" for p in patterns)).encode()
        self.send_response(200)
        self.send_header("Content-Type", (content_type or ["text/plain"])[0])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def policy_server(ca: trustme.CA) -> Iterator[None]:
    """HTTPS on POLICY_ADDRESS:443 with one certificate for every mta-sts.<domain>."""
    server = http.server.ThreadingHTTPServer((POLICY_ADDRESS, 443), PolicyHandler)
    server.daemon_threads = True
    server.stopping = threading.Event()  # type: ignore[attr-defined]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(f"mta-sts.{domain}" for domain in POLICIES)).configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.stopping.set()  # type: ignore[attr-defined]
        server.shutdown()
        server.server_close()


def _common_port() -> int:
    """A port free on every listener address (and on the dead one)."""
    for _ in range(50):
        port = free_port(next(iter(LISTENERS)))
        try:
            for address in [*LISTENERS, DEAD]:
                family = socket.AF_INET6 if ":" in address else socket.AF_INET
                socket.create_server((address, port), family=family).close()
        except OSError:
            continue
        return port
    raise RuntimeError("no port free on every lab address")


class Lab:
    """What a test needs: the resolver to give with --resolver, the SMTP port, the CA file."""

    def __init__(self, resolver: str, port: int, ca_file: Path) -> None:
        self.resolver = resolver
        self.port = port
        self.ca_file = ca_file

    def args(self, domain: str, *extra: str) -> list[str]:
        """The command line of a domain check against the lab."""
        return ["--mx", domain, "--resolver", self.resolver, "-p", str(self.port),
                "--ca-file", str(self.ca_file), *extra]  # fmt: skip


@contextlib.contextmanager
def mail_lab() -> Iterator[Lab]:
    """The whole lab, up; everything stopped and removed afterwards."""
    if os.geteuid() != 0:
        unavailable(
            "the MTA-STS policy server listens on port 443, which needs root: sudo make test"
        )
    for name in ("knotd", "keymgr", "kdig", "unbound"):
        if not program(name):
            unavailable(f"{name} is not installed: apt-get install knot knot-dnsutils unbound")
    base = private_directory("maillab")
    ca = trustme.CA()
    ca_file = base / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    port = _common_port()
    certificates = {address: ca.issue_cert(*names) for address, names in LISTENERS.items()}
    keys = {
        address: spki_sha256(cert.cert_chain_pems[0].bytes())
        for address, cert in certificates.items()
    }
    fields = {
        "port": port,
        "dead": DEAD,
        "spki_mx1": keys["127.0.0.2"],
        "spki_mx2": keys["127.0.0.3"],
    }
    zones = {
        "lab.example": LAB_ZONE.format(**fields)
        + "".join(
            f'_mta-sts.{d.removesuffix(".lab.example")} TXT "v=STSv1; id=1"\n'
            f"mta-sts.{d.removesuffix('.lab.example')} A {POLICY_ADDRESS}\n"
            for d in POLICIES
        ),
        "signed.example": SIGNED_ZONE.format(**fields),
        "bogus.example": BOGUS_ZONE,
    }
    daemons: list[Daemon] = []
    try:
        knotd, knot_port = knot(base, zones, ["signed.example", "bogus.example"])
        daemons.append(knotd)
        anchors = [
            *exported_ds(base, "signed.example"),
            "bogus.example. DS 1 13 2 " + "00" * 32,
        ]
        resolverd, resolver_port = unbound(base, knot_port, list(zones), anchors)
        daemons.append(resolverd)
        with contextlib.ExitStack() as servers:
            for address, cert in certificates.items():
                context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                cert.configure_cert(context)
                servers.enter_context(smtpd(address, port=port, tls_context=context))
            servers.enter_context(policy_server(ca))
            yield Lab(f"127.0.0.1:{resolver_port}", port, ca_file)
    finally:
        for daemon in reversed(daemons):
            daemon.stop()
        shutil.rmtree(base, ignore_errors=True)
