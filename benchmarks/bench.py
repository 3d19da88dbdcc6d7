"""make bench: what one check costs, how accurate its timing is, how much memory it takes.

Each run is a whole process, measured from outside: CPU (user+sys) from wait4(2), wall time
around it. Variants are interleaved, round after round, so that a busy moment of the machine
spreads over all of them. Peak RSS comes from GNU time (/usr/bin/time -f %M) in runs of its
own: Linux carries a process's RSS high-water mark across exec, so a child forked from this
(large) Python process would report this process's size. Prints Markdown tables and the
budgets; exits 1 when a budget is missed.

The single file (make pyz) runs by its shebang, beside the venv installation's console script.

Environment: BENCH_RUNS (rounds for the cost table, default 30), BENCH_ACCURACY_RUNS (default 10),
BENCH_PYZ (the single file, default dist/check_smtp_helo.pyz).
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "support"))

import nagiosplugin  # noqa: E402
import trustme  # noqa: E402
from maillab import knot, program  # noqa: E402
from servers import ScriptedServer, delayed, free_port, smtpd  # noqa: E402

PYTHON = sys.executable
CHECK = str(Path(PYTHON).with_name("check_smtp_helo"))
PYZ = os.environ.get("BENCH_PYZ", str(HERE.parent / "dist" / "check_smtp_helo.pyz"))
C_CHECK_SMTP = "/usr/lib/nagios/plugins/check_smtp"
GNU_TIME = "/usr/bin/time"
RUNS = int(os.environ.get("BENCH_RUNS", "30"))
ACCURACY_RUNS = int(os.environ.get("BENCH_ACCURACY_RUNS", "10"))
DELAYS_MS = (0, 50, 200)
FLOOR = "floor: python -c 'import nagiosplugin'"
TLS_CHECKS = ("STARTTLS check (-S)", "implicit TLS check (-s)")
PLAIN_CHECKS = ("plain check", "acceptance check (--rcpt-to)")  # no TLS, no AUTH
PYZ_PLAIN = "plain check, single file (pyz)"
BUNDLE_CHECK = "STARTTLS check (-S), bundle-only CA store (RHEL-like)"
# The CA store each variant sees. By default OpenSSL's built-in paths, Debian's hashed
# directory /etc/ssl/certs here, without this shell's SSL_CERT_FILE/SSL_CERT_DIR.
CA_STORE_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR")
HASHED = {name: value for name, value in os.environ.items() if name not in CA_STORE_VARIABLES}
ENVIRONMENTS: dict[str, dict[str, str]] = {}  # variant -> its environment, when not HASHED
# The domain check: six MX hosts on six loopback addresses, each with its own banner delay
PROBE_DELAYS_MS = (10, 20, 30, 40, 50, 100)
MX_ADDRESSES = tuple(f"127.0.0.{i}" for i in range(2, 2 + len(PROBE_DELAYS_MS)))
SIX, ONE = "domain check, 6 probes (--mx)", "domain check, 1 probe: the slowest of the 6"


class Sample:
    """One finished process: CPU ms, wall ms, exit code, stdout."""

    def __init__(self, command: list[str], env: dict[str, str] | None = None) -> None:
        started = time.perf_counter()
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env or HASHED
        )
        self.stdout = proc.stdout.read().decode("ascii", "replace")
        _pid, status, usage = os.wait4(proc.pid, 0)
        self.wall = (time.perf_counter() - started) * 1000
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stdout.close()
        self.code = proc.returncode
        self.cpu = (usage.ru_utime + usage.ru_stime) * 1000


def peak_rss(command: list[str], runs: int = 3, env: dict[str, str] | None = None) -> float:
    """The largest peak RSS, in MB, of a few runs, as GNU time reports it."""
    peaks = []
    for _ in range(runs):
        proc = subprocess.run([GNU_TIME, "-f", "%M", *command], capture_output=True, text=True,
                              check=False, env=env or HASHED)  # fmt: skip
        peaks.append(int(proc.stderr.strip().splitlines()[-1]) / 1024)
    return max(peaks)


def quartiles(values: list[float]) -> tuple[float, float, float]:
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, median, q3


def reported_time(stdout: str) -> float:
    """The perfdata 'time' of a check's output, in seconds."""
    match = re.search(r"\btime=([\d.]+)s", stdout)
    if not match:
        raise SystemExit(f"no time in the check's output: {stdout!r}")
    return float(match.group(1))


def cost(variants: dict[str, list[str]]) -> dict[str, list[Sample]]:
    """RUNS rounds; each round runs every variant once, starting one further along."""
    names = list(variants)
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    for round_ in range(RUNS):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            sample = Sample(variants[name], ENVIRONMENTS.get(name))
            if sample.code != 0:
                raise SystemExit(f"{name} exited {sample.code}: {sample.stdout!r}")
            samples[name].append(sample)
    return samples


def accuracy() -> dict[int, tuple[list[float], list[float]]]:
    """For each delay D, in ms: the reported time minus the 2xD the server was told to wait,
    and minus what the server itself measured (its sleeps can overrun on a busy machine)."""
    errors = {}
    for delay in DELAYS_MS:
        observed: list[float] = []
        with ScriptedServer(delayed(delay / 1000, delay / 1000, observed)) as server:
            command = [CHECK, "-H", "127.0.0.1", "-p", str(server.port), "-F", "bench.example"]
            reported = [reported_time(Sample(command).stdout) for _ in range(ACCURACY_RUNS)]
        errors[delay] = (
            [r * 1000 - 2 * delay for r in reported],
            [(r - o) * 1000 for r, o in zip(reported, observed)],
        )
    return errors


def concurrency() -> dict[str, list[Sample]]:
    """Six probes at once against one probe, the slowest of them, alone; DNS from a private
    Knot, both domains in one zone, so that both checks pay the same lookups but addresses."""
    if not program("knotd"):
        raise SystemExit("make bench needs Knot DNS for the domain check: apt-get install knot")
    base = Path(tempfile.mkdtemp(prefix="check_smtp_helo-bench-"))
    port = free_port(MX_ADDRESSES[0])
    zone = "".join(
        f"mx{i} A {address}\nsix MX 10 mx{i}\n" for i, address in enumerate(MX_ADDRESSES)
    )
    zone += f"one MX 10 mx{len(MX_ADDRESSES) - 1}\n"
    knotd, knot_port = knot(base, {"bench.example": zone}, [])
    try:
        with contextlib.ExitStack() as servers:
            for address, delay in zip(MX_ADDRESSES, PROBE_DELAYS_MS):
                servers.enter_context(ScriptedServer(delayed(delay / 1000, 0), address, port))
            common = [
                "--resolver",
                f"127.0.0.1:{knot_port}",
                "-p",
                str(port),
                "-F",
                "bench.example",
            ]
            return cost({
                SIX: [CHECK, "--mx", "six.bench.example", *common],
                ONE: [CHECK, "--mx", "one.bench.example", *common],
            })  # fmt: skip
    finally:
        knotd.stop()
        shutil.rmtree(base, ignore_errors=True)


def machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        cpu = found.group(1).strip() if found else cpu
    return (
        f"{cpu}, {os.cpu_count()} cores; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()} ({PYTHON}); nagiosplugin {nagiosplugin.__version__}"
    )


def bundle_only(directory: Path) -> dict[str, str] | None:
    """The environment of a RHEL-like CA store: the system's CAs in one bundle, in a
    directory without hash links (as /etc/pki/tls/certs); None without a system bundle."""
    import ssl  # noqa: PLC0415 -- the bench process only

    system = Path(os.path.realpath(ssl.get_default_verify_paths().openssl_cafile))
    if not system.is_file():
        return None
    certs = directory / "pki" / "tls" / "certs"
    certs.mkdir(parents=True)
    (certs / "ca-bundle.crt").write_bytes(system.read_bytes())
    return {**HASHED, "SSL_CERT_FILE": str(certs / "ca-bundle.crt"), "SSL_CERT_DIR": str(certs)}


def main() -> int:
    if not Path(PYZ).exists():
        raise SystemExit(f"{PYZ} is missing: make pyz builds it")
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    server_context = __import__("ssl").create_default_context(__import__("ssl").Purpose.CLIENT_AUTH)
    leaf.configure_cert(server_context)
    with (
        tempfile.NamedTemporaryFile(suffix=".pem") as ca_file,
        tempfile.TemporaryDirectory() as rhel,
    ):
        ca.cert_pem.write_to_path(ca_file.name)
        with (
            smtpd() as plain,
            smtpd(tls_context=server_context) as starttls,
            smtpd(ssl_context=server_context) as smtps,
            ScriptedServer(lambda peer: peer.send(b"220 " + b"x" * 10_000_000)) as flood,
        ):
            tls = ["--ca-file", ca_file.name]
            acceptance = ["--rcpt-to", "postmaster@example.org"]
            variants = {
                FLOOR: [PYTHON, "-c", "import nagiosplugin"],
                PLAIN_CHECKS[0]: [CHECK, "-H", "127.0.0.1", "-p", str(plain)],
                PLAIN_CHECKS[1]: [CHECK, "-H", "127.0.0.1", "-p", str(plain), *acceptance],
                PYZ_PLAIN: [PYZ, "-H", "127.0.0.1", "-p", str(plain)],
                TLS_CHECKS[0]: [CHECK, "-H", "127.0.0.1", "-p", str(starttls), "-S", *tls],
                TLS_CHECKS[1]: [CHECK, "-H", "127.0.0.1", "-p", str(smtps), "-s", *tls],
            }
            environment = bundle_only(Path(rhel))
            if environment:
                variants[BUNDLE_CHECK] = variants[TLS_CHECKS[0]]
                ENVIRONMENTS[BUNDLE_CHECK] = environment
            if Path(C_CHECK_SMTP).exists():
                variants["C check_smtp (monitoring-plugins)"] = [
                    C_CHECK_SMTP, "-H", "127.0.0.1", "-p", str(plain)
                ]  # fmt: skip
            samples = cost(variants)
            samples.update(concurrency())
            errors = accuracy()
            peaks = {
                name: peak_rss(command, env=ENVIRONMENTS.get(name))
                for name, command in variants.items()
            }
            peaks["check against a 10 MB line"] = peak_rss(
                [CHECK, "-H", "127.0.0.1", "-p", str(flood.port)]
            )
    return report(samples, errors, peaks)


def report(samples: dict[str, list[Sample]], errors: dict, peaks: dict[str, float]) -> int:
    print(f"Machine: {machine()}\n")
    print(f"Cost per check ({RUNS} interleaved rounds; median [q1-q3], ms; peak RSS, MB):\n")
    print("| command | CPU user+sys | wall | peak RSS |")
    print("| --- | --- | --- | --- |")
    for name, runs in samples.items():
        q1, median, q3 = quartiles([s.cpu for s in runs])
        w1, wall, w3 = quartiles([s.wall for s in runs])
        peak = f"{peaks[name]:.1f}" if name in peaks else ""
        print(f"| {name} | {median:.1f} [{q1:.1f}-{q3:.1f}] | {wall:.1f} [{w1:.1f}-{w3:.1f}] "
              f"| {peak} |")  # fmt: skip
    print(f"| check against a 10 MB line | | | {peaks['check against a 10 MB line']:.1f} |")
    print("\nAccuracy (ms): reported `time` minus the 2xD the server was told to wait, and minus")
    print("the time the server measured itself, from accept to its EHLO reply:\n")
    print("| D | minus 2xD: median | worst | minus server's own: median | worst | budget |")
    print("| --- | --- | --- | --- | --- | --- |")
    worst_ok = True
    for delay, (nominal, measured) in errors.items():
        worst, limit = max(measured, key=abs), 2 + 0.02 * 2 * delay
        worst_ok &= abs(worst) <= limit
        print(
            f"| {delay} ms | {statistics.median(nominal):+.2f} | {max(nominal, key=abs):+.2f} "
            f"| {statistics.median(measured):+.2f} | {worst:+.2f} | {limit:.0f} |"
        )
    # Budgets compare within each round (the runs are interleaved), so that a slow moment of
    # the machine, which slows every variant of its round, cancels out.
    floor = [s.cpu for s in samples[FLOOR]]
    plain_ratio = max(
        statistics.median(s.cpu / f for s, f in zip(samples[name], floor)) for name in PLAIN_CHECKS
    )
    plain = [s.cpu for s in samples[PLAIN_CHECKS[0]]]
    pyz_ratio = statistics.median(s.cpu / p for s, p in zip(samples[PYZ_PLAIN], plain))
    tls_extra = max(
        statistics.median(s.cpu - f for s, f in zip(samples[name], floor)) for name in TLS_CHECKS
    )
    checks = {name: mb for name, mb in peaks.items() if "check" in name and "C " not in name}
    # The domain check: what six probes cost over one, round by round
    extra_probes = len(PROBE_DELAYS_MS) - 1
    wall_over = statistics.median(s.wall - o.wall for s, o in zip(samples[SIX], samples[ONE]))
    cpu_over = statistics.median(s.cpu - o.cpu for s, o in zip(samples[SIX], samples[ONE]))
    budgets = [
        ("plain and acceptance checks CPU <= 1.0 x floor", f"{plain_ratio:.2f} x",
         plain_ratio <= 1.0),
        ("TLS check CPU <= floor + 25 ms (hashed CA directory)", f"+{tls_extra:.1f} ms",
         tls_extra <= 25),
        ("single file CPU <= 1.15 x venv plain check", f"{pyz_ratio:.2f} x", pyz_ratio <= 1.15),
        ("timing error <= 2 ms + 2% of 2xD (worst)", "see above", worst_ok),
        ("peak RSS <= 30 MB in every case", f"{max(checks.values()):.1f} MB at the most",
         max(checks.values()) <= 30),
        ("6 probes: wall <= the slowest probe alone + 50 ms", f"+{wall_over:.1f} ms",
         wall_over <= 50),
        (f"6 probes: CPU <= 1 probe + 3 ms per extra probe ({3 * extra_probes} ms)",
         f"+{cpu_over:.1f} ms", cpu_over <= 3 * extra_probes),
    ]  # fmt: skip
    if BUNDLE_CHECK in samples:  # a whole bundle is parsed: about 25 ms for a distribution's
        bundle_extra = statistics.median(s.cpu - f for s, f in zip(samples[BUNDLE_CHECK], floor))
        budgets.insert(2, ("TLS check CPU <= floor + 50 ms (bundle-only CA store)",
                           f"+{bundle_extra:.1f} ms", bundle_extra <= 50))  # fmt: skip
    print("\nBudgets:\n")
    print("| budget | measured | |")
    print("| --- | --- | --- |")
    for name, measured, ok in budgets:
        print(f"| {name} | {measured} | {'pass' if ok else 'MISSED'} |")
    return 0 if all(ok for *_, ok in budgets) else 1


if __name__ == "__main__":
    sys.exit(main())
