"""Property tests: whatever a server sends, and whatever a user passes, the plugin keeps the
plugin contract. A short profile runs in make test; make fuzz runs thousands of examples."""

from __future__ import annotations

import re
import signal
import subprocess
import time

import pytest
from helpers import CHECK, parse_perfdata, run_check
from hypothesis import given
from hypothesis import strategies as st
from servers import Peer, ScriptedServer, free_port

pytestmark = pytest.mark.fuzz

STATES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
TIMEOUT = 1.0

# Pieces a server might send: whole replies, halves of them, and the odd ones.
FRAGMENTS = [
    b"220 fuzz.test ESMTP\r\n",
    b"220-",
    b"220 ",
    b"250 ok\r\n",
    b"250-STARTTLS\r\n",
    b"250 STARTTLS\r\n",
    b"220 go ahead\r\n",
    b"554 no\r\n",
    b"421 bye\r\n",
    b"500 what\r\n",
    b"\r\n",
    b"\n",
    b"\r",
    b"|",
    b";",
    b"=",
    b"\x00",
    b"\xff\xfe",
    b"2" * 1500,
    b"250-x\r\n" * 60,
    "220 caf\u00e9 \u2603\r\n".encode(),
    b"\x16\x03\x01\x00\x05hello",
]


class Plan:
    """What the fuzzed server does on its next connection: send, pause, then close or hold."""

    def __init__(self) -> None:
        self.steps: list[tuple[bytes, float]] = []
        self.close = True


PLAN = Plan()


def play(peer: Peer) -> None:
    for data, pause in PLAN.steps:
        if pause and peer.server.stopping.wait(pause):
            return
        peer.send(data)
    if not PLAN.close:
        peer.hold()


@pytest.fixture(scope="module")
def fuzzed_server():
    with ScriptedServer(play) as server:
        yield server


def assert_contract(run, timeout: float = TIMEOUT) -> None:
    """Exit 0..3, 'SMTP <STATE> - ' first, perfdata by the guidelines, no traceback, in time."""
    assert run.code in STATES, run
    assert re.match(rf"SMTP {STATES[run.code]} - \S", run.lines[0]), run
    parse_perfdata(run.perfdata_text)  # fails the test on any item off the guidelines
    assert "Traceback" not in run.stdout + run.stderr, run
    assert run.stderr == "", run
    assert run.elapsed <= timeout + 1, run


@given(
    steps=st.lists(
        st.tuples(
            st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=80)),
            st.sampled_from([0, 0, 0, 0.01, 0.2, 0.6]),
        ),
        max_size=8,
    ),
    close=st.booleans(),
    extra=st.sampled_from([[], ["-v"], ["-vv"], ["--helo"], ["-S", "--insecure"], ["-e", "x"]]),
)
def test_any_server_behaviour_keeps_the_contract(fuzzed_server, steps, close, extra):
    PLAN.steps, PLAN.close = steps, close
    run = run_check(
        "-H",
        "127.0.0.1",
        "-p",
        str(fuzzed_server.port),
        "-t",
        str(TIMEOUT),
        "-F",
        "fuzz.example",
        *extra,
    )
    assert_contract(run)


OPTIONS = [
    "-H",
    "-p",
    "-F",
    "--email",
    "-w",
    "-c",
    "-e",
    "-t",
    "--timeout-state",
    "-D",
    "--sni",
    "--ca-file",
    "--mail-from",
    "--rcpt-to",
]
ARGUMENT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=30,
)


@pytest.mark.parametrize("option", OPTIONS)
@given(value=ARGUMENT)
def test_any_option_value_keeps_the_contract(option, value):
    """A valid value runs a check (a closed port: CRITICAL); an invalid one is UNKNOWN, one line."""
    base = {"-H": "127.0.0.1", "-p": str(free_port()), "-t": "1"}
    base[option] = value
    args = [arg for pair in base.items() for arg in pair]
    if option in ("-D", "--sni", "--ca-file"):
        args.append("-S")
    run = run_check(*args)
    assert_contract(run, timeout=float(base["-t"]) if run.code != 3 else TIMEOUT)
    if run.code == 3:
        assert run.lines == [run.lines[0]] and " | " not in run.lines[0], run
    else:
        assert run.code == 2, run


def test_sigterm_ends_the_check_at_once():
    with ScriptedServer(lambda peer: peer.hold()) as mute:
        proc = subprocess.Popen(
            [CHECK, "-H", "127.0.0.1", "-p", str(mute.port), "-t", "10"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.5)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=5)
        ended = time.monotonic() - sent
    assert (proc.returncode, stdout, stderr) == (
        3,
        "SMTP UNKNOWN - check terminated by SIGTERM\n",
        "",
    )
    assert ended < 0.5
