"""make graphs: redraw README's pictures from a real run (not part of make test).

A private Icinga 2 checks two servers every second with the shipped CheckCommand and
README's limits (-w 1 -c 2): the real Debian Postfix on loopback, which answers in well under
a millisecond, and a server that waits 300 ms before its banner and again before its EHLO
reply, as a server far away does. GraphiteWriter feeds a private carbon-cache, its IDO
Icinga Web 2 with the shipped graphite template; headless Chromium takes a picture of each
service's page. Run with: python -m pytest -q tests/support/make_graphs.py (GRAPHS_MINUTES:
how long the run is, 2 by default).
"""

from __future__ import annotations

import os
import time

import pytest
from helpers import ROOT
from servers import ScriptedServer, delayed
from webstack import IcingaWeb

pytestmark = pytest.mark.integration

IMAGES = ROOT / "docs" / "images"
MINUTES = float(os.environ.get("GRAPHS_MINUTES", "2"))
HOST = "mx.example.net"
PAGES = {"smtp-postfix": "smtp_helo-postfix.png", "smtp-300ms": "smtp_helo-300ms.png"}
PICTURE = """
object Host "{host}" {{
  check_command = "dummy"
  check_interval = 1s
  address = "127.0.0.1"
}}
"""
SERVICE = """
object Service "{name}" {{
  host_name = "{host}"
  check_command = "smtp_helo"
  check_interval = 1s
  retry_interval = 1s
  vars.smtp_helo_port = {port}
  vars.smtp_helo_warning = 1
  vars.smtp_helo_critical = 2
}}
"""


def test_draw_readme_pictures(writer_icinga, carbon, graphite_web, ido, graph_postfix):
    seconds = int(MINUTES * 60)
    first_data: list[float] = []

    def drawn_long_enough() -> bool:
        """The graphs span `seconds` from the first result carbon stored."""
        if not first_data and carbon.metrics():
            first_data.append(time.monotonic())
        return bool(first_data) and time.monotonic() - first_data[0] > seconds

    with ScriptedServer(delayed(0.3, 0.3)) as far:
        ports = {"smtp-postfix": graph_postfix, "smtp-300ms": far.port}
        body = ido.config + PICTURE.format(host=HOST)
        body += "".join(SERVICE.format(name=n, host=HOST, port=p) for n, p in ports.items())
        icinga = writer_icinga(body)
        icinga.run_until(icinga.command(), drawn_long_enough, seconds + 60)
    template = ROOT / "icinga-config" / "graphite" / "smtp_helo.ini"
    IMAGES.mkdir(parents=True, exist_ok=True)
    with IcingaWeb(ido.database, graphite_web.url, template) as web:
        for service, name in PAGES.items():
            picture = IMAGES / name
            web.browse(web.service_page(HOST, service, seconds), picture, size=(1200, 1150))
            print(f"\n{picture}: {picture.stat().st_size} bytes")
