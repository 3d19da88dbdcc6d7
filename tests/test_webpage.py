"""Integration: what an Icinga 2 user sees, the service page of Icinga Web 2 in a real browser.

A private Icinga 2 runs the shipped CheckCommand against a plain SMTP server and a STARTTLS
one; its GraphiteWriter feeds a private carbon-cache and its IDO a private MariaDB. Icinga
Web 2 (monitoring and graphite modules, the shipped graphite template installed as README
says) runs on PHP's built-in server, and headless Chromium opens each service's page.
"""

from __future__ import annotations

import html
import re
import urllib.parse
from dataclasses import dataclass

import pytest
from engines import broken_copy
from graphstack import Carbon, GraphiteWeb, WriterIcinga
from helpers import ROOT, private_directory
from mariadb import MariaDB
from test_graphs import SERVICES, assert_drawn, servers  # noqa: F401  (servers: a fixture)
from webstack import IcingaWeb, ido_connection

pytestmark = pytest.mark.integration

HOST = "mail.test"
TEMPLATE = ROOT / "icinga-config" / "graphite" / "smtp_helo.ini"
CHECKS = """
object Host "{host}" {{
  check_command = "dummy"
  check_interval = 1s
  address = "127.0.0.1"
}}
template Service "every-second" {{
  check_interval = 1s
  retry_interval = 1s
}}
object Service "smtp" {{
  import "every-second"
  host_name = "{host}"
  check_command = "smtp_helo"
  vars.smtp_helo_port = {plain_port}
  vars.smtp_helo_warning = 0.8
  vars.smtp_helo_critical = 1.5
}}
object Service "smtp-starttls" {{
  import "every-second"
  host_name = "{host}"
  check_command = "smtp_helo"
  vars.smtp_helo_port = {tls_port}
  vars.smtp_helo_starttls = true
  vars.smtp_helo_ca_file = "{ca_file}"
  vars.smtp_helo_certificate_days = "30,14"
}}
"""


@dataclass
class Stack:
    carbon: Carbon
    graphite_web: GraphiteWeb
    database: MariaDB


@pytest.fixture(scope="module")
def stack(engine_plugins, stock, servers):  # noqa: F811
    """Its own carbon-cache (the graph suite's counts every metric in its own), graphite-web,
    MariaDB, and an Icinga 2 run until both services have graphs and a state in the IDO."""
    carbon = Carbon()
    graphite_web = GraphiteWeb(carbon)
    database = MariaDB()
    database.start()
    body = ido_connection(database) + CHECKS.format(
        host=HOST, plain_port=servers.delaying, tls_port=servers.tls, ca_file=servers.ca_file
    )
    icinga = WriterIcinga(engine_plugins, stock, carbon, None, body)

    def ready() -> bool:
        checked = database.sql(
            "SELECT COUNT(*) FROM icinga_servicestatus WHERE has_been_checked = 1 UNION ALL "
            "SELECT COUNT(*) FROM icinga_hoststatus WHERE has_been_checked = 1",
            "icinga_ido",
        ).stdout.split()
        drawn = [m for m in carbon.metrics() if m.endswith(".perfdata.time.value")]
        return (
            checked == ["2", "1"]
            and len(drawn) == 2
            and all(sum(v is not None for _, v in carbon.fetch(m, 300)) >= 5 for m in drawn)
        )

    try:
        icinga.run_until(icinga.command(), ready, timeout=90)
        yield Stack(carbon, graphite_web, database)
    finally:
        icinga.remove()
        graphite_web.stop()
        carbon.stop()
        database.stop()


@pytest.fixture(scope="module")
def web(stack):
    site = IcingaWeb(stack.database, stack.graphite_web.url, TEMPLATE)
    yield site
    site.stop()


SHIPPED = ROOT / "icinga-config" / "graphite"
# What each service's page shows: the labels its check sends (as the graph suite's services
# of the same kind), the charts of the shipped template, the curves drawn on the phases chart.
PAGES = {
    "smtp": (SERVICES["smtp-delay"], {"smtp_helo-phases"},
             {"dns", "connect", "banner", "helo", "time", "warning", "critical"}),
    "smtp-starttls": (SERVICES["smtp-tls"], {"smtp_helo-phases", "smtp_helo-certificate"},
                      {"dns", "connect", "tls", "banner", "helo", "time", "days"}),
}  # fmt: skip
OUTPUT = re.compile(r"SMTP OK - 127\.0\.0\.1:\d+ answered in [\d.]+ ms, banner: 220 ")


def service_page(service: str) -> str:
    query = urllib.parse.urlencode({"host": HOST, "service": service, "graph_range": 300})
    return f"/monitoring/service/show?{query}"


def query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True))


def graph_images(dom: str) -> list[dict[str, str]]:
    """The attributes of each graph image of the graphite module in a page."""
    tags = re.findall(r"<img [^>]*class=\"detach graphiteImg\"[^>]*>", dom)
    return [
        {k: html.unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', tag)} for tag in tags
    ]


def assert_service_page(web: IcingaWeb, service: str) -> None:
    """Chromium opens the service page: the graphs are those of the shipped template, each
    image loaded by the module's script and drawn by graphite-web with every curve, and the
    status line and perfdata table are there."""
    labels, charts, curves = PAGES[service]
    screenshot = private_directory("page") / f"{service}.png"
    dom = web.browse(service_page(service), screenshot)
    images = graph_images(dom)
    # The module names a command's own template `template`, a generic one `default_template`.
    templates = [query(image["src"]).get("template", "generic") for image in images]
    assert sorted(templates) == sorted(charts), f"not the shipped template's graphs: {images}"
    assert "load-more" not in dom, "a label the template does not draw has a graph of its own"
    for image in images:
        # The module's script loads the graph at the width the page has for it, with the
        # theme's colours and a cache-buster r: that is the real graph, not the server's URL.
        loaded, served = query(image["src"]), query(image["data-actualimageurl"])
        assert "r" in loaded and "r" not in served, image
        assert {k: v for k, v in served.items() if k != "width"}.items() <= loaded.items(), image
        kind, png = web.get(image["src"])
        assert kind == "image/png", (kind, png[:200])
        path = screenshot.with_name(f"{service}-{len(png)}.png")
        path.write_bytes(png)
        assert_drawn(path, curves - {"days"} if "phases" in image["src"] else {"days"})
    assert_drawn(screenshot, curves)
    assert '<td class="state-col state-up">' in dom and '<td class="state-col state-ok">' in dom
    state = re.search(r'<div class="plugin-output preformatted">([^<]*)</div>', dom)
    assert state and OUTPUT.match(html.unescape(state.group(1))), state
    table = dom[dom.index('class="performance-data-table') :]
    table = table[: table.index("</table>")]
    assert set(re.findall(r'<td><span title="(\w+)">\1</span></td>', table)) == labels


@pytest.mark.parametrize("service", sorted(PAGES))
def test_service_page_in_a_browser(web, service):
    assert_service_page(web, service)


def test_a_template_for_another_command_fails_the_page_test(stack):
    """The page test sees when the template is not used: here it is written for a
    command named smtp, and the page shows the module's generic graphs instead."""
    broken = broken_copy(
        SHIPPED, "smtp_helo.ini", 'check_command = "smtp_helo"', 'check_command = "smtp"'
    )
    site = IcingaWeb(stack.database, stack.graphite_web.url, broken / "smtp_helo.ini")
    try:
        with pytest.raises(AssertionError, match="not the shipped template's graphs"):
            assert_service_page(site, "smtp")
    finally:
        site.stop()
