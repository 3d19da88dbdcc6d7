"""make graphs: redraw README's graph and service page from a real run (not part of make test).

A private Icinga 2 checks a server whose banner and EHLO delays change over a few minutes
every second with the shipped CheckCommand; GraphiteWriter feeds a private carbon-cache,
and icingaweb2-module-graphite's own code draws the shipped template through graphite-web.
Its IDO feeds Icinga Web 2, whose service page headless Chromium takes a picture of.
Run with: python -m pytest -q tests/support/make_graphs.py (GRAPHS_OUTPUT and GRAPHS_PAGE name the
PNGs).
"""

from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path

import pytest
from helpers import ROOT
from servers import Peer, ScriptedServer
from webstack import IcingaWeb

pytestmark = pytest.mark.integration

IMAGES = ROOT / "docs" / "images"
OUTPUT = Path(os.environ.get("GRAPHS_OUTPUT", IMAGES / "smtp_helo-graphite.png"))
PAGE = Path(os.environ.get("GRAPHS_PAGE", IMAGES / "smtp_helo-service-page.png"))
MINUTES = float(os.environ.get("GRAPHS_MINUTES", "2"))
PICTURE = """
object Host "mx.example.net" {{
  check_command = "dummy"
  check_interval = 1s
  address = "127.0.0.1"
}}
object Service "smtp" {{
  host_name = "mx.example.net"
  check_command = "smtp_helo"
  check_interval = 1s
  retry_interval = 1s
  vars.smtp_helo_port = {port}
  vars.smtp_helo_warning = 0.4
  vars.smtp_helo_critical = 0.6
}}
"""


def slowing(started: float, period: float):
    """A correct SMTP peer whose banner and EHLO reply get slower and faster again, once
    per period: the banner from 50 to 250 ms, the EHLO reply from 20 to 320 ms."""

    def script(peer: Peer) -> None:
        phase = math.sin(2 * math.pi * (time.monotonic() - started) / period)
        time.sleep(0.15 + 0.1 * phase)
        peer.send(b"220 mx.example.net ESMTP\r\n")
        while line := peer.line():
            if line[:4].upper() == b"QUIT":
                peer.send(b"221 Bye\r\n")
                return
            time.sleep(0.17 + 0.15 * phase * phase * (1 if phase > 0 else -1))
            peer.send(b"250 mx.example.net\r\n")

    return script


def test_draw_readme_graph(writer_icinga, carbon, graphite_web, ido):
    seconds = int(MINUTES * 60)
    first_data: list[float] = []

    def drawn_long_enough() -> bool:
        """The graph spans `seconds` from the first result carbon stored."""
        if not first_data and carbon.metrics():
            first_data.append(time.monotonic())
        return bool(first_data) and time.monotonic() - first_data[0] > seconds

    with ScriptedServer(slowing(time.monotonic(), seconds / 1.5)) as server:
        icinga = writer_icinga(ido.config + PICTURE.format(port=server.port))
        icinga.run_until(icinga.command(), drawn_long_enough, seconds + 60)
    template = ROOT / "icinga-config" / "graphite" / "smtp_helo.ini"
    charts = graphite_web.module_charts(
        template, "mx.example.net", "smtp", seconds=seconds, size=(720, 300), legend=True
    )
    (phases,) = (chart for chart in charts if chart["template"] == "smtp_helo-phases")
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(phases["png"], OUTPUT)
    print(f"\n{OUTPUT}: {OUTPUT.stat().st_size} bytes")
    with IcingaWeb(ido.database, graphite_web.url, template) as web:
        web.browse(web.service_page("mx.example.net", "smtp", seconds), PAGE, size=(1200, 900))
    print(f"{PAGE}: {PAGE.stat().st_size} bytes")
