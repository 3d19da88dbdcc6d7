"""The mail domain against hostile DNS (a scripted server, dnsstub.py) and SMTP servers:
names that cannot be host names, hundreds of MX hosts, the same host twice, labels that
collide, -e over many probes, DANE for one host name, and what a domain says when every
address answered but failed."""

from __future__ import annotations

import hashlib
import itertools
import os
import resource
import ssl
import subprocess
import time

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from dnsstub import ScriptedDNS
from helpers import CHECK, HELO, assert_status, run_check
from servers import Peer, ScriptedServer, smtpd

from check_smtp_helo.core.text import shown
from check_smtp_helo.core.threads import MAX_WORKERS

OK, WARNING, CRITICAL = 0, 1, 2
# an MX name of 255 octets (its wire form) of \255 bytes
BAD_NAME = ".".join(["\\255" * 63] * 3 + ["\\255" * 61]) + "."


def banner_and_ehlo(peer: Peer) -> None:
    peer.send(b"220 edge.test ESMTP\r\n")
    peer.converse({b"EHLO": b"250 edge.test\r\n", b"HELO": b"250 edge.test\r\n"})


def domain_check(dns: ScriptedDNS, port: int, domain: str, *args: str, **run):
    return run_check("--mx", domain, "--resolver", dns.address, "-p", str(port), *HELO, *args,
                     **run)  # fmt: skip


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """aiosmtpd with STARTTLS and a certificate for mx1.edge.test; the CA file; the SPKI."""
    ca = trustme.CA()
    cert = ca.issue_cert("mx1.edge.test")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = tmp_path_factory.mktemp("edge") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    key = x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes()).public_key()
    spki = hashlib.sha256(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))
    with smtpd("127.0.0.1", tls_context=context) as port:
        yield port, str(ca_file), spki.hexdigest()


@pytest.mark.parametrize(
    ("bad", "extra"),
    [(BAD_NAME, []), (".", []), (".", ["--dane"]), ("mx\\032two.edge.test.", [])],
    ids=["255 octets of \\255", "the root", "the root, --dane", "a space"],
)
def test_an_mx_name_that_cannot_be_a_host_is_its_own_warning(tls_server, bad, extra):
    """One such MX host sank the whole check (ssl.SSLError, or 'server_hostname cannot be an
    empty string'): it is never talked to, and only it is WARNING."""
    port, ca_file, _spki = tls_server
    records = {("edge.test", "MX"): ["10 mx1.edge.test.", f"20 {bad}"],
               ("mx1.edge.test", "A"): ["127.0.0.1"]}  # fmt: skip
    records[(bad, "A")] = ["127.0.0.1"]
    records[(bad, "AAAA")] = ["::1"]
    with ScriptedDNS(records) as dns:
        name = dns_text(bad)
        run = domain_check(dns, port, "edge.test", "-S", "--ca-file", ca_file, *extra)
    assert_status(run, WARNING, f"SMTP WARNING - edge.test: 1 of 1 addresses OK, "
                                f"{shown(name)}: not a valid host name")  # fmt: skip
    assert "Traceback" not in run.stdout + run.stderr


def dns_text(name: str) -> str:
    """The name as the check reads it from an MX record."""
    import dns.name  # noqa: PLC0415

    return dns.name.from_text(name).to_text(omit_final_dot=True)


def test_a_domain_with_hundreds_of_mx_hosts_takes_a_bounded_number_of_threads():
    """500 MX hosts took a thread each (under a process limit: 'can't start new thread'):
    the probes share MAX_WORKERS threads, and every one of them is still made."""
    hosts = [f"mx{i}.many.test" for i in range(300)]
    records = {("many.test", "MX"): [f"10 {host}." for host in hosts]}
    records.update({(host, "A"): ["127.0.0.1"] for host in hosts})

    def slow(peer: Peer) -> None:
        time.sleep(0.05)
        banner_and_ehlo(peer)

    with ScriptedDNS(records) as dns, ScriptedServer(slow) as server:
        args = ["--mx", "many.test", "--resolver", dns.address, "-p", str(server.port), *HELO]
        process = subprocess.Popen([CHECK, *args, "-t", "20"], stdout=subprocess.PIPE, text=True)
        most = 0
        while process.poll() is None:
            most = max(most, threads_of(process.pid))
            time.sleep(0.005)
        stdout = process.stdout.read()
        process.stdout.close()
    assert process.returncode == OK, stdout
    assert stdout.startswith("SMTP OK - many.test: 300 of 300 addresses OK |"), stdout
    assert 0 < most <= MAX_WORKERS + 1, most  # the workers and the main thread
    assert server.connections == 300


def threads_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("Threads:"))
    except (OSError, StopIteration):
        return 0


def test_threads_that_cannot_start_leave_the_work_to_the_others():
    """Under an address space limit that leaves room for a few threads only, the domain is
    still checked: a probe never ends as 'RuntimeError: can't start new thread'."""
    hosts = [f"mx{i}.many.test" for i in range(200)]
    records = {("many.test", "MX"): [f"10 {host}." for host in hosts]}
    records.update({(host, "A"): ["127.0.0.1"] for host in hosts})

    def limited() -> None:  # 8 MiB stacks: some 20 threads fit beside the interpreter
        resource.setrlimit(resource.RLIMIT_AS, (400 << 20, 400 << 20))

    with ScriptedDNS(records) as dns, ScriptedServer(banner_and_ehlo) as server:
        args = ["--mx", "many.test", "--resolver", dns.address, "-p", str(server.port), *HELO]
        proc = subprocess.run([CHECK, *args, "-t", "20"], capture_output=True, text=True,
                              preexec_fn=limited, env={**os.environ, "MALLOC_ARENA_MAX": "1"},
                              check=False, timeout=60)  # fmt: skip
    assert proc.returncode == OK, proc
    assert proc.stdout.startswith("SMTP OK - many.test: 200 of 200 addresses OK |"), proc
    assert proc.stderr == "", proc


def test_each_mx_host_once_and_every_label_its_own():
    """MX 10 and MX 20 of one host gave two equal labels and counted its address twice;
    mx-1 and mx_1 both became time_mx_1_...: the host is probed once, the second label of
    a pair gets _2."""
    names = ["mx.dup.test", "mx.dup.test", "mx-1.dup.test", "mx_1.dup.test"]
    records = {("dup.test", "MX"): [f"{10 * (i + 1)} {n}." for i, n in enumerate(names)]}
    records.update({(name, "A"): ["127.0.0.1"] for name in names})
    with ScriptedDNS(records) as dns, ScriptedServer(banner_and_ehlo) as server:
        run = domain_check(dns, server.port, "dup.test", "-v")
    assert_status(run, OK, "SMTP OK - dup.test: 3 of 3 addresses OK")
    labels = [item.split("=")[0] for item in run.perfdata_text.split()]
    assert sorted(labels) == sorted(["dns", "addresses", "addresses_ok", "time",
                                     "time_mx_dup_test_127_0_0_1", "time_mx_1_dup_test_127_0_0_1",
                                     "time_mx_1_dup_test_127_0_0_1_2"]), labels  # fmt: skip
    assert "MX: 10 mx.dup.test, 30 mx-1.dup.test, 40 mx_1.dup.test" in run.long
    assert server.connections == 3


def test_expect_over_hundreds_of_probes_is_judged_in_time():
    """-e matched each banner in a child process of its own, one after another, in the
    quarter second kept for judging: a healthy domain of 400 probes ended as 'check aborted'.
    One silent host makes the probes last until their deadline."""
    hosts = [f"mx{i}.many.test" for i in range(400)]
    records = {("many.test", "MX"): [f"10 {host}." for host in hosts]}
    records.update({(host, "A"): ["127.0.0.1"] for host in hosts})
    first = itertools.count()

    def script(peer: Peer) -> None:
        if next(first) == 0:
            peer.hold()
            return
        banner_and_ehlo(peer)

    with ScriptedDNS(records) as dns, ScriptedServer(script) as server:
        run = domain_check(dns, server.port, "many.test", "-e", "ESMTP$", "-t", "3")
    assert run.code == WARNING, run
    assert run.status.startswith("SMTP WARNING - many.test: 399 of 400 addresses OK, mx"), run
    assert run.status.endswith(" [127.0.0.1]: no banner within 3s (implicit TLS port? use -s)"), run
    assert run.elapsed < 4, run


def test_dane_for_one_host_name(tls_server):
    """As check_ssl_cert -H NAME --dane: the name's TLSA records judge its certificate."""
    port, _ca_file, spki = tls_server
    records = {("mx1.edge.test", "A"): ["127.0.0.1"],
               (f"_{port}._tcp.mx1.edge.test", "TLSA"): [f"3 1 1 {spki}"]}  # fmt: skip
    with ScriptedDNS(records, authenticated=True) as dns:
        run = run_check("-H", "mx1.edge.test", "--dane", "--resolver", dns.address,
                        "-p", str(port), *HELO)  # fmt: skip
        records[(f"_{port}._tcp.mx1.edge.test", "TLSA")] = ["3 1 1 " + "00" * 32]
    with ScriptedDNS(records, authenticated=True) as dns:
        wrong = run_check("-H", "mx1.edge.test", "--dane", "--resolver", dns.address,
                          "-p", str(port), *HELO)  # fmt: skip
    assert_status(run, OK, "SMTP OK - mx1.edge.test: 1 of 1 addresses OK")
    assert "time_mx1_edge_test_127_0_0_1" in run.perfdata
    assert_status(wrong, CRITICAL, "SMTP CRITICAL - mx1.edge.test: 1 of 1 addresses OK, "
                  "mx1.edge.test [127.0.0.1]: certificate matches no TLSA record")  # fmt: skip


def test_every_address_answered_but_failed_says_what_failed(tls_server):
    """A certificate that does not name the MX host, and no TLSA records: the check said
    'no address answered' where one did; it says what failed."""
    port, ca_file, _spki = tls_server
    records = {("edge.test", "MX"): ["10 other.edge.test."],
               ("other.edge.test", "A"): ["127.0.0.1"]}  # fmt: skip
    with ScriptedDNS(records) as dns:
        run = domain_check(dns, port, "edge.test", "--dane", "--ca-file", ca_file)
    assert_status(run, CRITICAL, "SMTP CRITICAL - edge.test: 0 of 1 addresses OK, "
                  "other.edge.test [127.0.0.1]: TLS certificate not trusted: hostname mismatch, "
                  "certificate is not valid for 'other.edge...")  # fmt: skip
    assert "no address answered" not in run.stdout
