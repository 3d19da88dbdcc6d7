"""Numbers for perfdata and the status line: plain decimals, never e-notation."""

from __future__ import annotations

import nagiosplugin


def decimal(value: float) -> str:
    """A measured value for perfdata: plain decimal, microseconds (never 1e-06)."""
    return f"{value:.6f}"


def duration(seconds: float) -> str:
    """A time for the status line: milliseconds below one second (0.4 ms), else seconds."""
    if seconds * 1000 < 999.95:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.3f}s"


def number(value: float) -> str:
    """A threshold or limit for perfdata: plain decimal without trailing zeros."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def range_text(threshold: nagiosplugin.Range) -> str:
    """A Nagios range in perfdata form: '1' stays '1', and numbers are never in e-notation."""
    text = "@" if threshold.invert else ""
    if threshold.start == float("-inf"):
        text += "~:"
    elif threshold.start != 0:
        text += number(threshold.start) + ":"
    if threshold.end != float("inf"):
        text += number(threshold.end)
    return text


def seconds_performance(
    metric: nagiosplugin.Metric, warn: str = "", crit: str = ""
) -> nagiosplugin.Performance:
    """Perfdata for a duration: 'label=0.001234s;warn;crit;min;max'."""
    limit = "" if metric.max is None else number(metric.max)
    return nagiosplugin.Performance(
        metric.name, decimal(metric.value), metric.uom, warn, crit, number(metric.min), limit
    )
