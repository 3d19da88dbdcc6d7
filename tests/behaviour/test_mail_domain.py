"""The mail domain (--mx, --all-addresses, --resolver, --dane, --mta-sts) against the lab:
Knot and a validating Unbound, SMTP servers on several loopback addresses, an MTA-STS
policy server (maillab.py)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from helpers import CHECK, TIME, TIME_PATTERN, Run, assert_status, assert_within, run_check

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
MX1 = {"time_mx1_lab_example_127_0_0_2", "time_mx1_lab_example___1"}
MX2 = {"time_mx2_lab_example_127_0_0_3"}
COUNTS = {"addresses", "addresses_ok", "dns", "time"}
PROBE_LINE = r"\\_ \[(OK|WARNING)\] [\w.-]+ \[[\d.:]+\]: .+"  # one probe's state, then why
NOT_VALID = "TLS certificate not trusted: hostname mismatch, certificate is not valid for 'mx-n..."

CASES = {
    "all MX OK": ("all.lab.example", [], OK, "all.lab.example: 3 of 3 addresses OK",
                  COUNTS | MX1 | MX2),
    "one address dead": (
        "onedead.lab.example", [], WARNING,
        "onedead.lab.example: 2 of 3 addresses OK, "
        "mx-dead.lab.example [127.0.0.9]: connection refused", COUNTS | MX1),
    "all dead": (
        "alldead.lab.example", [], CRITICAL,
        "alldead.lab.example: 0 of 1 addresses OK, no address answered, "
        "mx-dead.lab.example [127.0.0.9]: connection refused", COUNTS - {"time"}),
    "no MX: implicit": (
        "nomx.lab.example", [], OK,
        "nomx.lab.example: 1 of 1 addresses OK, no MX: the domain's own address is its "
        "implicit MX", COUNTS | {"time_nomx_lab_example_127_0_0_2"}),
    "null MX": ("nullmx.lab.example", [], CRITICAL,
                "nullmx.lab.example: domain accepts no mail (null MX)", {"dns"}),
    "NXDOMAIN": ("missing.lab.example", [], CRITICAL,
                 "missing.lab.example: no such domain (NXDOMAIN)", set()),
    "DNSSEC bogus": ("bogus.example", [], CRITICAL,
                     "bogus.example: MX query failed: SERVFAIL (DNSKEY_MISSING)", set()),
    "an MX host that does not exist": (
        "nxhost.lab.example", [], WARNING,
        "nxhost.lab.example: 2 of 2 addresses OK, mx-missing.lab.example: no such domain "
        "(NXDOMAIN)", COUNTS | MX1),
    "IPv6-only MX": ("v6only.lab.example", [], OK, "v6only.lab.example: 1 of 1 addresses OK",
                     COUNTS | {"time_mx6_lab_example___1"}),
    "dual stack, -4": ("all.lab.example", ["-4"], OK, "all.lab.example: 2 of 2 addresses OK",
                       COUNTS | MX2 | {"time_mx1_lab_example_127_0_0_2"}),
    "dual stack, -6: an MX host without IPv6": (
        "all.lab.example", ["-6"], WARNING,
        "all.lab.example: 1 of 1 addresses OK, mx2.lab.example: no address",
        COUNTS | {"time_mx1_lab_example___1"}),
    "STARTTLS on every probe": ("all.lab.example", ["-S"], OK,
                                "all.lab.example: 3 of 3 addresses OK", COUNTS | MX1 | MX2),
    "DANE match": ("dane.signed.example", ["--dane"], OK,
                   "dane.signed.example: 1 of 1 addresses OK",
                   COUNTS | {"time_mx1_signed_example_127_0_0_2"}),
    "DANE mismatch": (
        "dane-bad.signed.example", ["--dane"], CRITICAL,
        "dane-bad.signed.example: 1 of 1 addresses OK, mxbad.signed.example [127.0.0.3]: "
        "certificate matches no TLSA record", COUNTS | {"time_mxbad_signed_example_127_0_0_3"}),
    "TLSA in an unsigned zone": (
        "unsigned-tlsa.lab.example", ["--dane"], WARNING,
        "unsigned-tlsa.lab.example: 1 of 1 addresses OK, mx2.lab.example: TLSA not "
        "DNSSEC-validated", COUNTS | MX2),
    "no TLSA": ("notlsa.signed.example", ["--dane"], OK,
                "notlsa.signed.example: 1 of 1 addresses OK",
                COUNTS | {"time_mx2_signed_example_127_0_0_3"}),
    "MTA-STS enforce, matching": ("sts.lab.example", ["--mta-sts"], OK,
                                  "sts.lab.example: 2 of 2 addresses OK, MTA-STS enforce",
                                  COUNTS | MX1),
    "MTA-STS enforce, an MX outside the policy": (
        "sts-outside.lab.example", ["--mta-sts"], CRITICAL,
        "sts-outside.lab.example: 3 of 3 addresses OK, MTA-STS enforce: mx2.lab.example not "
        "in the policy", COUNTS | MX1 | MX2),
    "MTA-STS enforce, a certificate without the MX name": (
        "sts-noname.lab.example", ["--mta-sts"], CRITICAL,
        "sts-noname.lab.example: 2 of 3 addresses OK, MTA-STS enforce: mx-noname.lab.example "
        "[127.0.0.4]: certificate not valid for mx-noname.lab.example, mx-noname.lab.example "
        f"[127.0.0.4]: {NOT_VALID}", COUNTS | MX1),
    "MTA-STS testing, an MX outside the policy": (
        "sts-testing.lab.example", ["--mta-sts"], WARNING,
        "sts-testing.lab.example: 3 of 3 addresses OK, MTA-STS testing: mx2.lab.example not "
        "in the policy", COUNTS | MX1 | MX2),
    "MTA-STS testing, a certificate without the MX name": (
        "sts-testing-noname.lab.example", ["--mta-sts"], WARNING,
        "sts-testing-noname.lab.example: 2 of 3 addresses OK, mx-noname.lab.example "
        f"[127.0.0.4]: {NOT_VALID}, MTA-STS testing: mx-noname.lab.example [127.0.0.4]: "
        "certificate not valid for mx-noname.lab.example", COUNTS | MX1),
    "MTA-STS record without a policy": (
        "sts-404.lab.example", ["--mta-sts"], CRITICAL,
        "sts-404.lab.example: 2 of 2 addresses OK, MTA-STS policy from "
        "mta-sts.sts-404.lab.example: HTTP status 404", COUNTS | MX1),
    "MTA-STS policy served as another type": (
        "sts-type.lab.example", ["--mta-sts"], CRITICAL,
        "sts-type.lab.example: 2 of 2 addresses OK, MTA-STS policy from "
        "mta-sts.sts-type.lab.example: policy is not text/plain", COUNTS | MX1),
    "no MTA-STS record": ("all.lab.example", ["--mta-sts"], OK,
                          "all.lab.example: 3 of 3 addresses OK", COUNTS | MX1 | MX2),
}  # fmt: skip


@pytest.mark.integration
@pytest.mark.parametrize(("domain", "extra", "code", "status", "labels"), CASES.values(),
                         ids=CASES.keys())  # fmt: skip
def test_mail_domain(mail_lab, domain, extra, code, status, labels):
    run = run_check(*mail_lab.args(domain, *extra))
    state = ["OK", "WARNING", "CRITICAL", "UNKNOWN"][code]
    assert_status(run, code, f"SMTP {state} - {status}")
    assert set(run.perfdata) == labels, run
    for label, perf in run.perfdata.items():
        if label.startswith("time"):
            assert (perf.uom, perf.min, perf.max) == ("s", "0", "10"), (label, perf)
    # one line per probe in the long output, each with its state: OK for those that answered
    probes = [re.fullmatch(PROBE_LINE, line) for line in run.long]
    assert all(probes), run
    states = [probe.group(1) for probe in probes if probe]
    if "addresses" in labels:
        total = run.perfdata["addresses"].value
        assert run.perfdata["addresses_ok"][1:] == ("", "", "", "0", total), run
        assert len(states) == int(total), run
        assert states.count("OK") == int(run.perfdata["addresses_ok"].value), run
    else:
        assert states == [], run


def assert_long(run: Run, lines: list[str]) -> None:
    """The long output exactly, where {time} stands for a measured time."""
    patterns = [re.escape(line).replace(re.escape(TIME), TIME_PATTERN) for line in lines]
    assert len(run.long) == len(lines), run
    for line, pattern in zip(run.long, patterns):
        assert re.fullmatch(pattern, line), f"\n{line!r}\n!~\n{pattern!r}"


@pytest.mark.integration
def test_one_state_per_probe_in_the_long_output(mail_lab):
    """Without -v, one line per probe in monitoring-plugins' multi-line form (Icinga Web 2
    shows a state tag for each), after the status line and its perfdata."""
    run = run_check(*mail_lab.args("onedead.lab.example"))
    assert_status(run, WARNING, "SMTP WARNING - onedead.lab.example: 2 of 3 addresses OK, "
                  "mx-dead.lab.example [127.0.0.9]: connection refused")  # fmt: skip
    assert set(run.perfdata) == COUNTS | MX1, run
    assert_long(run, [
        "\\_ [OK] mx1.lab.example [127.0.0.2]: answered in {time}",
        "\\_ [OK] mx1.lab.example [::1]: answered in {time}",
        "\\_ [WARNING] mx-dead.lab.example [127.0.0.9]: connection refused",
    ])  # fmt: skip
    run = run_check(*mail_lab.args("v6only.lab.example", "-c", "0.000001"))
    assert_long(run, [
        "\\_ [WARNING] mx6.lab.example [::1]: response time outside critical range 0.000001",
    ])  # fmt: skip


@pytest.mark.integration
def test_slowest_probe_is_the_time(mail_lab):
    run = run_check(*mail_lab.args("all.lab.example", "-w", "5", "-c", "9"))
    probes = [float(p.value) for label, p in run.perfdata.items() if label.startswith("time_")]
    assert float(run.perfdata["time"].value) == max(probes), run
    assert run.perfdata["time"][2:4] == ("5", "9"), run
    assert run.perfdata["time_mx1_lab_example___1"][2:4] == ("5", "9"), run


@pytest.mark.integration
def test_a_probe_own_warning_is_warning(mail_lab):
    run = run_check(*mail_lab.args("v6only.lab.example", "-c", "0.000001"))
    status = "SMTP WARNING - v6only.lab.example: 1 of 1 addresses OK, mx6.lab.example [::1]: "
    assert_status(run, WARNING, status + "response time outside critical range 0.000001")


@pytest.mark.integration
def test_policy_that_never_answers_is_bounded_by_the_timeout(mail_lab):
    run = run_check(*mail_lab.args("sts-slow.lab.example", "--mta-sts", "-t", "2"))
    assert_status(
        run, CRITICAL, "SMTP CRITICAL - sts-slow.lab.example: 2 of 2 addresses OK, MTA-STS "
        "policy from mta-sts.sts-slow.lab.example: no answer from 127.0.0.44:443 in time",
    )  # fmt: skip
    assert_within(run, 2)


@pytest.mark.integration
def test_verbose_has_one_block_per_probe(mail_lab):
    run = run_check(*mail_lab.args("dane.signed.example", "--dane", "-v"))
    assert run.long[0] == "MX: 10 mx1.signed.example", run
    assert re.fullmatch(
        rf"\\_ \[OK\] mx1\.signed\.example \[127\.0\.0\.2\]: answered in {TIME_PATTERN}",
        run.long[1],
    ), run
    assert run.long[2] == "- DANE: match", run
    assert run.long[3] == f"- address: 127.0.0.2 port {mail_lab.port}", run
    assert "- TLS: TLSv1.3" in "\n".join(run.long), run
    run = run_check(*mail_lab.args("all.lab.example", "-vv"))
    for where in (
        "mx1.lab.example [127.0.0.2]",
        "mx1.lab.example [::1]",
        "mx2.lab.example [127.0.0.3]",
    ):
        assert f"{where} C: QUIT" in run.long, run  # whose transcript line it is
    run = run_check(*mail_lab.args("notlsa.signed.example", "--dane", "-v"))
    assert "DANE: no TLSA records for mx2.signed.example" in run.long, run
    run = run_check(*mail_lab.args("sts.lab.example", "--mta-sts", "-v"))
    assert "MTA-STS policy: mode enforce, mx mx1.lab.example, max_age 86400" in run.long, run


@pytest.mark.integration
def test_all_addresses_of_one_host(mail_lab):
    run = run_check("-H", "mx1.lab.example", "--all-addresses", "--resolver", mail_lab.resolver,
                    "-p", str(mail_lab.port))  # fmt: skip
    assert_status(run, OK, "SMTP OK - mx1.lab.example: 2 of 2 addresses OK")
    assert set(run.perfdata) == COUNTS | MX1, run
    assert_long(run, [
        "\\_ [OK] mx1.lab.example [127.0.0.2]: answered in {time}",
        "\\_ [OK] mx1.lab.example [::1]: answered in {time}",
    ])  # fmt: skip


@pytest.mark.integration
def test_resolver_serves_the_single_check(mail_lab):
    run = run_check("-H", "mx2.lab.example", "--resolver", mail_lab.resolver,
                    "-p", str(mail_lab.port))  # fmt: skip
    assert_status(run, OK, f"SMTP OK - mx2.lab.example:{mail_lab.port} (127.0.0.3) answered in "
                  f"{TIME}, banner: 220 mx.test Python SMTP 1.4.6, helo: 250 mx.test")  # fmt: skip
    run = run_check("-H", "missing.lab.example", "--resolver", mail_lab.resolver)
    assert_status(run, CRITICAL, "SMTP CRITICAL - missing.lab.example:25: cannot resolve "
                  "missing.lab.example: no such domain (NXDOMAIN)")  # fmt: skip


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--mx", "example.com", "-H", "mx.example.com"],
         "--mx and -H/--hostname exclude each other"),
        (["--mx", "example.com", "mx.example.com"],
         "--mx and -H/--hostname exclude each other"),
        (["--mta-sts", "-H", "mx.example.com"], "--mta-sts needs --mx"),
        (["--dane", "-H", "192.0.2.25"],
         "--dane needs a host name (TLSA records belong to names), or --mx"),
        (["--dane", "[2001:db8::25]"],
         "--dane needs a host name (TLSA records belong to names), or --mx"),
        (["--mx", "example.com", "--all-addresses"],
         "--all-addresses and --mx exclude each other"),
        (["--mx", "example.com", "-S", "--sni", "mx.example.com"],
         "--mx and --sni exclude each other"),
        (["--mx", "example.com", "--mta-sts", "--insecure"],
         "--mta-sts and --insecure exclude each other"),
        (["--mx", "exa mple.com"], "--mx: domain 'exa mple.com' is not a valid host name"),
        (["-H", "mx.example.com", "--resolver", "dns.example.com"],
         "--resolver: 'dns.example.com' is not an IP address with an optional port (1..65535)"),
        (["-H", "mx.example.com", "--resolver", "127.0.0.1:99999"],
         "--resolver: '127.0.0.1:99999' is not an IP address with an optional port (1..65535)"),
    ],
)  # fmt: skip
def test_domain_options_that_cannot_work(args, reason):
    run = run_check(*args)
    assert_status(run, UNKNOWN, f"SMTP UNKNOWN - {reason}")
    assert run.lines == [run.status], run


@pytest.mark.integration
def test_only_the_domain_modes_import_dnspython(mail_lab):
    def modules(*args: str) -> set[str]:
        proc = subprocess.run([sys.executable, "-X", "importtime", CHECK, *args],
                              capture_output=True, text=True, check=False)  # fmt: skip
        assert proc.returncode == 0, proc
        return {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}

    port = str(mail_lab.port)
    assert "dns" not in modules("-H", "127.0.0.2", "-p", port)
    assert "dns" not in modules("-H", "127.0.0.2", "-p", port, "-S", "--ca-file",
                                str(mail_lab.ca_file), "--sni", "mx1.lab.example")  # fmt: skip
    assert "dns" not in modules("-H", "127.0.0.2", "-p", port, "--resolver", mail_lab.resolver)
    assert "dns" in modules(*mail_lab.args("all.lab.example"))
