"""The promises at the edges: the deadline, values at parse time, stdout and stderr that fail,
SIGTERM, the EHLO argument the machine's name gives, the line limit."""

from __future__ import annotations

import array
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import termios
import time

import pytest
import trustme
from dnsstub import ScriptedDNS
from helpers import CHECK, HELO, LOOPBACK, assert_status, check_server, run_check, unavailable
from servers import Peer, ScriptedServer, free_port

TERMINATED = "SMTP UNKNOWN - check terminated by SIGTERM"


def serve(banner: bytes, ehlo: bytes = b"250 edge.test\r\n"):
    """A script: the banner, then EHLO and QUIT answered."""

    def script(peer: Peer) -> None:
        peer.send(banner)
        peer.converse({b"EHLO": ehlo, b"HELO": ehlo})

    return script


def test_a_pathological_pattern_ends_at_the_timeout():
    """(a+)+$ against 30 a's and a '!' backtracks for minutes inside the re engine."""
    with ScriptedServer(serve(b"220 " + b"a" * 30 + b"!\r\n")) as peer:
        run = check_server(peer.port, "-e", "(a+)+$", "-t", "1.5", "--timeout-state", "warning")
    assert_status(run, 1, "SMTP WARNING - check aborted after 1.5s")
    assert run.elapsed < 2.0, run.elapsed


def test_a_pattern_that_matches_in_time_still_judges():
    with ScriptedServer(serve(b"220 mx.test ESMTP\r\n")) as peer:
        run = check_server(peer.port, "-e", "^220 mx", "-t", "2")
    assert run.code == 0, run


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-e", "a{4294967295}"], "-e/--expect: 'a{4294967295}' is not a regular expression: "
         "a repetition count is too large"),
        (["-e", "(" * 600 + "a" + ")" * 600], f"-e/--expect: '{'(' * 76}... is not a regular "
         "expression: it nests too deeply"),
        (["-w", "1" * 320], f"-w/--warning: '{'1' * 76}... is not a Nagios range such as 1, "
         "0.5, ~:2, @1:2"),
        (["-c", "0." + "1" * 400], None),  # a long fraction is a number all the same
        (["-s", "-D", "9" * 400], f"-D/--certificate-days: '{'9' * 76}... is not WARN or "
         "WARN,CRIT in days"),
        (["-p", "5" * 5000], f"-p/--port: '{'5' * 76}... is not a port number (1..65535)"),
        (["-p", "\u0662\u0665"], "-p/--port: '\\u0662\\u0665' is not a port number (1..65535)"),
        (["-H", "fe80::1%"], "host 'fe80::1%': after % comes an interface name or number"),
        (["-H", "::1%a;b|c"], "host '::1%a:b\\x7cc': after % comes an interface name or number"),
        (["-H", "fe80::1%nosuchif0"], "host 'fe80::1%nosuchif0': this machine has no "
         "interface nosuchif0"),
    ],
)  # fmt: skip
def test_every_bad_value_is_one_unknown_line_at_parse_time(args, message):
    port = free_port()
    run = check_server(port, "-t", "1", *args, helo=False)
    if message is None:
        assert run.code == 2, run  # read as a value: the check ran (nothing listens)
        return
    assert_status(run, 3, f"SMTP UNKNOWN - {message}")
    assert run.lines == [run.status] and run.stderr == "", run


def test_tls_set_up_and_the_ca_file_are_inside_the_deadline(tmp_path):
    """Loading ssl, the CA store and --ca-file takes milliseconds: more than -t 0.001."""
    ca_file = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca_file))
    args = ("-S", "--ca-file", str(ca_file), "-t", "0.001", "--timeout-state", "unknown")
    run = run_check("-H", LOOPBACK, "-p", str(free_port()), *args)
    assert_status(run, 3, "SMTP UNKNOWN - check aborted after 0.001s")


@pytest.fixture
def not_files(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    return {"FIFO": str(fifo), "directory": str(tmp_path), "device": "/dev/zero"}


@pytest.mark.parametrize("kind", ["FIFO", "directory", "device"])
def test_a_ca_file_that_is_not_a_file_is_refused(not_files, kind):
    """A FIFO would block the check without end; a directory or /dev/zero is no PEM file."""
    path = not_files[kind]
    run = run_check("-H", LOOPBACK, "-p", str(free_port()), "-S", "--ca-file", path, timeout=10)
    assert_status(run, 3, f"SMTP UNKNOWN - cannot use --ca-file '{path}': not a regular file")


def _shell(command: str, port: int) -> subprocess.CompletedProcess:
    """The plugin in a shell, with the redirections a careless command definition makes."""
    line = f"{CHECK} -H {LOOPBACK} -p {port} -F monitor.example.com -vvv {command}"
    return subprocess.run(["sh", "-c", line], capture_output=True, timeout=30, check=False)


@pytest.mark.parametrize("redirect", [">&-", ">/dev/full", "2>&-", ">&- 2>&-"])
@pytest.mark.parametrize(("script", "code"), [(serve(b"220 mx.test\r\n"), 0), (None, 2)])
def test_the_exit_code_is_the_state_whatever_stdout_and_stderr_do(redirect, script, code):
    if script is None:
        proc = _shell(redirect, free_port())
    else:
        with ScriptedServer(script) as peer:
            proc = _shell(redirect, peer.port)
        # nothing meant for the monitoring core went to the server (closed stdout's number)
        assert peer.received == b"EHLO monitor.example.com\r\nQUIT\r\n"
    assert proc.returncode == code, proc
    assert b"Traceback" not in proc.stdout + proc.stderr, proc


def test_the_exit_code_is_the_state_with_a_broken_pipe():
    with ScriptedServer(serve(b"220 mx.test\r\n")) as peer:
        proc = subprocess.Popen(
            [CHECK, "-H", LOOPBACK, "-p", str(peer.port), *HELO, "-vv"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        proc.stdout.close()  # the reader is gone before the plugin writes
        _, stderr = proc.communicate(timeout=30)
    assert (proc.returncode, stderr) == (0, b"")


def _full(pipe: int) -> bool:
    """Does the pipe hold so much that the writer's next line (about 1 KB) cannot go in?"""
    capacity = fcntl.fcntl(pipe, getattr(fcntl, "F_GETPIPE_SZ", 1032))  # named from 3.10 on
    queued = array.array("i", [0])
    fcntl.ioctl(pipe, termios.FIONREAD, queued)
    return queued[0] > capacity - 2048


def test_sigterm_while_output_is_blocked_ends_with_one_clean_line():
    """The core stopped reading a long -vv output, then gave up: the last line is whole."""
    ehlo = b"".join(b"250-" + b"x" * 1000 + b"\r\n" for _ in range(98)) + b"250 last\r\n"
    with ScriptedServer(serve(b"220 mx.test ESMTP\r\n", ehlo)) as peer:
        proc = subprocess.Popen(
            [CHECK, "-H", LOOPBACK, "-p", str(peer.port), *HELO, "-vv"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while not _full(proc.stdout.fileno()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _full(proc.stdout.fileno()), "the plugin never filled its stdout"
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=10)
    lines = stdout.decode("ascii").splitlines()
    assert (proc.returncode, stderr) == (3, b"")
    assert lines[0].startswith("SMTP OK - "), lines[0]
    assert lines[-1] == TERMINATED
    assert stdout.decode().count("SMTP UNKNOWN") == 1


IMPORT_THEN_SIGTERM = """
import os, signal, sys
class SigtermOnImport:  # SIGTERM the moment the plugin imports its heavy modules
    def find_spec(self, name, path=None, target=None):
        if name == "check_smtp_helo.cli":
            os.kill(os.getpid(), signal.SIGTERM)
sys.meta_path.insert(0, SigtermOnImport())
sys.argv[1:] = ["-H", "127.0.0.1"]
from check_smtp_helo.console import run
run()
"""


def test_sigterm_during_the_imports_is_answered_too():
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_THEN_SIGTERM], capture_output=True, text=True, check=False
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, TERMINATED + "\n", "")


@pytest.mark.parametrize(
    "hostname", ["bad name.example", "semi;colon.example", "caf\u00e9.example", "cr\r.example"]
)
def test_an_invalid_host_name_is_never_the_ehlo_argument(hostname):
    """The machine's name is sent only when it is a valid FQDN; else the address literal."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        unavailable("a host name of its own needs unshare (util-linux) and root: sudo make test")
    with ScriptedServer(serve(b"220 mx.test ESMTP\r\n")) as peer:
        program = (
            "import socket, subprocess, sys; socket.sethostname(sys.argv[1]); "
            "sys.exit(subprocess.run(sys.argv[2:]).returncode)"
        )
        proc = subprocess.run(
            ["unshare", "--uts", "python3", "-c", program, hostname, CHECK, "-H", LOOPBACK,
             "-p", str(peer.port)],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    assert proc.returncode == 0, proc
    assert peer.received == b"EHLO [127.0.0.1]\r\nQUIT\r\n"


@pytest.mark.parametrize("end", [b"\r\n", b"\n"])
@pytest.mark.parametrize(("length", "accepted"), [(1024, True), (1025, False)])
def test_one_line_limit_whatever_the_line_end(end, length, accepted):
    """1024 bytes of text, not counting the line end, be it CRLF or LF alone."""
    banner = b"220 " + b"x" * (length - 4) + end
    with ScriptedServer(serve(banner, b"250 edge.test" + end)) as peer:
        run = check_server(peer.port)
    if accepted:
        assert run.code == 0, run
    else:
        assert_status(
            run,
            2,
            f"SMTP CRITICAL - {LOOPBACK}:{peer.port}: protocol error: banner has a line over "
            "1024 bytes",
        )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--auth-user", "probe\udcff", "--allow-plaintext-auth"],
         "--auth-user: the user name is not UTF-8"),
        (["-S", "--ca-file", ""], "--ca-file: the value is empty (leave the option out for its "
         "default)"),
        (["-S", "--sni", ""], "--sni: the value is empty (leave the option out for its default)"),
        (["-S", "--sni="], "--sni: the value is empty (leave the option out for its default)"),
    ],
)  # fmt: skip
def test_values_refused_before_any_connection(args, message):
    """A user name whose bytes are not UTF-8 ($'probe\\xff') could never be sent; an empty
    --ca-file or --sni (an unset variable in a command definition) is not the option left out."""
    with ScriptedServer(serve(b"220 mx.test\r\n")) as server:
        run = check_server(server.port, *args, env={"CHECK_SMTP_HELO_PASSWORD": "pencil"})
    assert_status(run, 3, f"SMTP UNKNOWN - {message}")
    assert run.lines == [run.status] and run.stderr == "", run
    assert server.connections == 0


# Runs the installed plugin with an audit hook that lists each module first imported after
# the deadline was armed (from a directory where the source tree is not importable).
LATE_IMPORTS = """
import sys
from check_smtp_helo import cli
from check_smtp_helo.core import deadline
late, arm = [], deadline.Deadline.arm
deadline.Deadline.arm = lambda timer, seconds: (late.append("armed"), arm(timer, seconds))[1]
sys.addaudithook(lambda event, args: late and event == "import" and args[0] not in
                 sys.modules and late.append(args[0]))
try:
    cli.main(sys.argv[1:])
finally:
    sys.stderr.write(" ".join(late[1:]))
"""


@pytest.mark.parametrize(
    "args",
    [["-H", LOOPBACK], ["-H", LOOPBACK, "-e", "ESMTP"], ["-H", LOOPBACK, "-S"],
     ["-H", LOOPBACK, "-s", "--auth-user", "u", "--ca-file", "/dev/null"],
     ["-H", "mx.edge.test", "--resolver"], ["-H", "mx.edge.test", "--dane", "--resolver"],
     ["--mx", "edge.test", "--dane", "--mta-sts", "-e", "ESMTP", "--resolver"]],
    ids=["plain", "-e", "-S", "--auth-user", "--resolver", "-H NAME --dane", "--mx"],
)  # fmt: skip
def test_nothing_is_imported_after_the_deadline_is_armed(tmp_path, args):
    """The deadline signal inside an import leaves a module half made: 'RuntimeError: Error
    calling __set_name__' as the status line, or 'Exception ignored in ... _get_module_lock'
    on stderr. What the options need is imported before the timer starts."""
    env = {**os.environ, "CHECK_SMTP_HELO_PASSWORD": "pencil"}
    with ScriptedServer(serve(b"220 mx.test ESMTP\r\n")) as server:
        records = {("edge.test", "MX"): ["10 mx.edge.test."], ("mx.edge.test", "A"): [LOOPBACK],
                   (f"_{server.port}._tcp.mx.edge.test", "TLSA"): ["3 1 1 " + "00" * 32],
                   ("_mta-sts.edge.test", "TXT"): ['"v=STSv1; id=1"']}  # fmt: skip
        with ScriptedDNS(records, authenticated=True) as dns:
            resolver = [dns.address] if args[-1] == "--resolver" else []
            proc = subprocess.run(
                [sys.executable, "-c", LATE_IMPORTS, "-p", str(server.port), *HELO, "-t", "2",
                 *args, *resolver],
                capture_output=True, text=True, cwd=tmp_path, env=env, check=False, timeout=30,
            )  # fmt: skip
    assert proc.stdout.startswith("SMTP "), proc
    assert proc.stderr == "", proc


SLOW_IMPORT = """
import sys, time
sys.path.insert(0, sys.argv[1])
from check_smtp_helo.core.deadline import Deadline, DeadlineError
Deadline().arm(0.01)
try:
    import slow_module
    while True:
        pass
except DeadlineError:
    print("deadline after the import:", getattr(sys.modules.get("slow_module"), "done", False))
"""


def test_the_deadline_waits_for_an_import_to_end(tmp_path):
    """Whatever is still imported late (dnspython reads a record type it has not met yet):
    the deadline that comes during the import is raised right after it."""
    (tmp_path / "slow_module.py").write_text(
        "import time\nfor _ in range(50):\n    time.sleep(0.001)\ndone = True\n"
    )
    proc = subprocess.run([sys.executable, "-c", SLOW_IMPORT, str(tmp_path)], capture_output=True,
                          text=True, cwd=tmp_path, check=False, timeout=30)  # fmt: skip
    assert proc.stdout == "deadline after the import: True\n", proc
    assert proc.stderr == "", proc
