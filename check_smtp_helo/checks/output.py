"""The output layout: the status line with its perfdata, long output from -v, every line safe."""

from __future__ import annotations

import logging

import nagiosplugin
from nagiosplugin.output import Output

from ..core.text import LONG_LINE, STATUS_LINE, safe
from .resource import log

LOG_LEVELS = {0: logging.WARNING, 1: logging.WARNING, 2: logging.INFO}


class StatusLineOutput(Output):
    """nagiosplugin's output, but perfdata stays on the status line at every -v level,
    long output from -v on is the Summary's verbose(), without -v its brief() (nagiosplugin's
    own verbosity then only decides tracebacks),
    and every line but the perfdata is made safe(): the status line whoever sets it (also
    nagiosplugin's own after an internal error), the rest where nagiosplugin screens it."""

    def __init__(self, logchan: logging.Handler, verbosity: int) -> None:
        self.perfdata = ""
        super().__init__(logchan)
        self.verbosity = verbosity

    @property
    def status(self) -> str:
        line = safe(self._status, STATUS_LINE)
        return f"{line} {self.perfdata}" if self.perfdata else line

    @status.setter
    def status(self, text: str) -> None:
        self._status = text

    def add(self, check):
        self.status = self.format_status(check)
        self.perfdata = self.format_perfdata(check)
        if self.verbosity:
            self.add_longoutput(check.verbose_str)
        else:
            self.add_longoutput(check.summary.brief(check.results))

    def _screen_chars(self, text: str, where: str) -> str:
        if where in ("perfdata", "status line"):  # the status line is made safe() as a whole
            return super()._screen_chars(text, where)
        return "\n".join(safe(line, LONG_LINE) for line in text.splitlines())


def use_output(verbosity: int) -> None:
    """Set up nagiosplugin's Runtime for -v levels 0..3: long output, transcript, debug."""
    runtime = nagiosplugin.Runtime()
    runtime.output = StatusLineOutput(runtime.logchan, verbosity)
    runtime.verbose = 3 if verbosity >= 3 else 0
    level = LOG_LEVELS.get(verbosity, logging.DEBUG)
    runtime.logchan.setLevel(level)
    # nagiosplugin's root logger passes everything to the handler; a level on our own logger
    # spares building a record for each transcript line that nobody asked to see
    log.setLevel(level)
