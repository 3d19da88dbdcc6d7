"""Numbers for perfdata and the status line: plain decimals, never e-notation."""

from __future__ import annotations

import nagiosplugin
import pytest

from check_smtp_helo.checks.perfdata import decimal, duration, number, range_text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0004, "0.4 ms"), (0.00004, "0.0 ms"), (0.0475, "47.5 ms"), (0.99994, "999.9 ms"),
     (0.99996, "1.000s"), (1.5, "1.500s"), (12.25, "12.250s")],
)  # fmt: skip
def test_the_status_line_gives_milliseconds_below_one_second(seconds, text):
    assert duration(seconds) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.000001, "0.000001"), (12.5, "12.500000"), (0, "0.000000"), (1234.0000004, "1234.000000")],
)
def test_measured_values_are_plain_decimals(value, text):
    assert decimal(value) == text


@pytest.mark.parametrize(
    ("value", "text"), [(10, "10"), (2.5, "2.5"), (0.00001, "0.00001"), (-0.0, "0"), (1e-7, "0")]
)
def test_limits_are_plain_numbers(value, text):
    assert number(value) == text


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ("1", "1"),
        ("0:1", "1"),
        ("0.5", "0.5"),
        ("~:2", "~:2"),
        ("@1:2", "@1:2"),
        ("10:", "10:"),
        ("0.00001", "0.00001"),
        ("", ""),
    ],
)
def test_ranges_in_perfdata_keep_plain_numbers(spec, text):
    assert range_text(nagiosplugin.Range(spec)) == text
