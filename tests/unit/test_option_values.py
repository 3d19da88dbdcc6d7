"""What the options come to: the default port, the thresholds taken."""

from __future__ import annotations

import pytest

from check_smtp_helo.options.derive import Settings
from check_smtp_helo.options.parse import parse


@pytest.mark.parametrize(
    ("args", "port"),
    [
        ([], 25),
        (["-s"], 465),
        (["--tls"], 465),
        (["-S"], 25),
        (["-s", "-p", "2465"], 2465),
        (["-L"], 24),
        (["-L", "-S"], 24),
        (["-L", "-s"], 465),
    ],
)
def test_default_port_follows_implicit_tls(args, port):
    assert Settings(parse(["-H", "mx.example.com", *args])).port == port


@pytest.mark.parametrize(
    "thresholds",
    [("-w", "1", "-c", "1"), ("-w", "1", "-c", "2"), ("-w", "~:2", "-c", "1"),
     ("-w", "@1:2", "-c", "0.5"), ("-w", "1:3", "-c", "2"), ("-w", "2"), ("-c", "1")],
)  # fmt: skip
def test_thresholds_other_than_warning_above_critical_are_taken(thresholds):
    options = parse(["-H", "mx.example.com", *thresholds])
    given = dict(zip(thresholds[::2], thresholds[1::2]))
    assert str(options.warning) == given.get("-w", "")
    assert str(options.critical) == given.get("-c", "")
