"""Server text made printable and any text made safe for one line of plugin output."""

from __future__ import annotations

import io
import logging

import pytest

from check_smtp_helo.checks.output import StatusLineOutput
from check_smtp_helo.core.text import printable, safe


def test_printable_makes_server_text_safe():
    assert printable(b"220 ok | x=1\x00\x1b[0m\x7f caf\xc3\xa9") == "220 ok / x=1??[0m? caf??"


@pytest.mark.parametrize(
    ("text", "limit", "shown"),
    [
        ("250 ok; SIZE|1", 120, "250 ok: SIZE/1"),
        ("caf\u00e9\r\n  x\x1b", 120, "caf\\xe9 x?"),
        ("a" * 130, 120, "a" * 117 + "..."),
        ("exactly", 7, "exactly"),
    ],
)
def test_safe_text_is_one_clipped_line_without_semicolons(text, limit, shown):
    assert safe(text, limit) == shown


def test_the_status_line_is_safe_whoever_sets_it():
    """nagiosplugin sets the status line itself after an internal error."""
    output = StatusLineOutput(logging.StreamHandler(io.StringIO()), 0)
    output.status = "SMTP UNKNOWN: ValueError: a;b|c\r\nd"
    output.add_longoutput(["long;line"])
    assert str(output) == "SMTP UNKNOWN: ValueError: a:b/c d\nlong:line\n"
