"""Integration: what an Icinga 2 user sees, the service page of Icinga Web 2 in a real browser.

A private Icinga 2 runs the graph suite's checks (the shipped CheckCommand against the real
Debian Postfix with README's limits, a 300 ms server, a STARTTLS one, one it logs in to and
gives a recipient, and the others) and a mail domain check on the mail domain lab; its
GraphiteWriter feeds a private carbon-cache and its IDO a private MariaDB. Icinga Web 2
(monitoring and graphite modules, the shipped graphite template installed as README says)
runs on PHP's built-in server, and headless Chromium opens the service pages.
"""

from __future__ import annotations

import html
import re
import shutil
import urllib.parse

import pytest
from engines import broken_copy
from graphstack import Carbon, GraphiteWeb, WriterIcinga
from helpers import ROOT
from test_graphs import (  # noqa: F401  (servers: a fixture)
    DOMAIN_CHECK,
    GRAPHITE_CHARTS,
    HOST,
    SERVICES,
    assert_drawn,
    assert_phases_fill,
    checks,
    servers,
)
from webstack import IcingaWeb

pytestmark = pytest.mark.integration

SHIPPED = ROOT / "icinga-config" / "graphite"
TEMPLATE = SHIPPED / "smtp_helo.ini"
# The page of four of the graph suite's services: the state and plugin output it shows; the
# charts of the shipped template and the curves drawn on each are the graph suite's.
PAGES = {
    "smtp-postfix": (
        "ok",
        r"SMTP OK - 127\.0\.0\.1:\d+ answered in [\d.]+ ms, banner: 220 mx\.postfix\.test ESMTP "
        r"Postfix, helo: 250 mx\.postfix\.test",
    ),
    "smtp-300ms": (
        "warning",
        r"SMTP WARNING - 127\.0\.0\.1:\d+ answered in [\d.]+ ms: response time outside warning "
        r"range 0\.5, banner: 220 delay\.test ESMTP, helo: 250 delay\.test",
    ),
    "smtp-tls": (
        "ok",
        r"SMTP OK - 127\.0\.0\.1:\d+ answered in [\d.]+ ms, banner: 220 mx\.test ESMTP aiosmtpd, "
        r"helo: 250 mx\.test, tls: TLSv1\.3 \(certificate expires in 90 days\)",
    ),
    "smtp-steps": (
        "ok",
        r"SMTP OK - 127\.0\.0\.1:\d+ answered in [\d.]+ ms, banner: 220 mx\.test ESMTP aiosmtpd, "
        r"helo: 250 mx\.test, auth: 235 2\.7\.0 Authentication successful, mail: 250 OK",
    ),
}
# The charts of the template in its order; a service page shows the first SHOWN of them
CHART_ORDER = ["smtp_helo-phases", "smtp_helo-steps", "smtp_helo-certificate", "smtp_helo-limits"]
SHOWN = 2
# A mail domain check on the lab: two of onedead.lab.example's three addresses answer
DOMAIN_HOST, DOMAIN_SERVICE = "domain.test", "mail-domain"  # as in DOMAIN_CHECK
PROBE_STATES = [
    ("ok", "mx1.lab.example [127.0.0.2]: answered in"),
    ("ok", "mx1.lab.example [::1]: answered in"),
    ("warning", "mx-dead.lab.example [127.0.0.9]: connection refused"),
]


@pytest.fixture(scope="module")
def graphite_url(engine_plugins, stock, servers, ido, mail_lab):  # noqa: F811
    """graphite-web on a carbon-cache of its own (the graph suite counts every metric in
    the shared one), after an Icinga 2 ran until the hosts and every service have a state in
    the IDO and every page's service has graphs."""
    domain = DOMAIN_CHECK.format(resolver=mail_lab.resolver, port=mail_lab.port)
    with Carbon() as carbon, GraphiteWeb(carbon) as graphite_web:
        body = ido.config + checks(servers) + domain
        icinga = WriterIcinga(engine_plugins, stock, carbon, None, body)

        def ready() -> bool:
            drawn = [
                m
                for m in carbon.metrics()
                if m.endswith(".perfdata.time.value") and m.split(".")[3] in PAGES
            ]
            return (
                ido.checked() == (len(SERVICES) + 1, 1)
                and len(drawn) == len(PAGES)
                and all(sum(v is not None for _, v in carbon.fetch(m, 300)) >= 5 for m in drawn)
            )

        try:
            icinga.run_until(icinga.command(), ready, timeout=90)
            yield graphite_web.url
        finally:
            icinga.remove()


@pytest.fixture(scope="module")
def web(graphite_url, ido):
    with IcingaWeb(ido.database, graphite_url, TEMPLATE) as site:
        yield site


def query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True))


def graph_images(dom: str) -> list[dict[str, str]]:
    """The attributes of each graph image of the graphite module in a page."""
    tags = re.findall(r"<img [^>]*class=\"detach graphiteImg\"[^>]*>", dom)
    return [
        {k: html.unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', tag)} for tag in tags
    ]


def plugin_output(dom: str) -> str:
    """The plugin output the page shows, its markup (state tags) included."""
    shown = re.findall(r'<div class="plugin-output preformatted">(.*?)</div>', dom, re.S)
    assert shown, "no plugin output on the page"
    return "\n".join(shown)  # the status line, then the long output


def assert_service_page(web: IcingaWeb, service: str) -> None:
    """Chromium opens the service page: the graphs are those of the shipped template, each
    image loaded by the module's script and drawn by graphite-web with every curve, the
    phases filling the plot of the fast real Postfix, and the status line and perfdata
    table are there."""
    state, output = PAGES[service]
    charts = GRAPHITE_CHARTS[service]
    screenshot = web.base / f"{service}.png"
    dom = web.browse(web.service_page(HOST, service, 300), screenshot)
    images = graph_images(dom)
    # The module names a command's own template `template`, a generic one `default_template`.
    templates = [query(image["src"]).get("template", "generic") for image in images]
    # the first two in the template's order, the others behind "Load more"
    shown = sorted(charts, key=CHART_ORDER.index)[:SHOWN]
    assert templates == shown, f"not the shipped template's graphs: {images}"
    if len(charts) <= SHOWN:
        assert "load-more" not in dom, "a label the template does not draw has a graph of its own"
    for number, image in enumerate(images):
        # The module's script loads the graph at the width the page has for it, with the
        # theme's colours and a cache-buster r: that is the real graph, not the server's URL.
        loaded, served = query(image["src"]), query(image["data-actualimageurl"])
        assert "r" in loaded and "r" not in served, image
        assert {k: v for k, v in served.items() if k != "width"}.items() <= loaded.items(), image
        kind, png = web.get(image["src"])
        assert kind == "image/png", (kind, png[:200])
        chart = web.base / f"{service}-{number}.png"
        chart.write_bytes(png)
        assert_drawn(chart, charts[loaded["template"]])
        if service == "smtp-postfix" and loaded["template"] == "smtp_helo-phases":
            assert_phases_fill(chart, int(loaded["height"]))
    assert_drawn(screenshot, set().union(*charts.values()))
    assert '<td class="state-col state-up">' in dom, "the host is not UP"
    assert f'<td class="state-col state-{state}">' in dom, f"the service is not {state}"
    assert re.fullmatch(output, html.unescape(plugin_output(dom)).strip()), plugin_output(dom)
    table = dom[dom.index('class="performance-data-table') :]
    table = table[: table.index("</table>")]
    assert set(re.findall(r'<td><span title="(\w+)">\1</span></td>', table)) == SERVICES[service]


@pytest.mark.parametrize("service", sorted(PAGES))
def test_service_page_in_a_browser(web, service):
    assert_service_page(web, service)


def test_mail_domain_page_shows_a_state_per_probe(web):
    """The long output of a domain check, one line per probe, shows on its page with a
    state tag each: Icinga Web 2 colours '[OK]' and '[WARNING]'."""
    page = web.service_page(DOMAIN_HOST, DOMAIN_SERVICE, 300)
    dom = web.browse(page, web.base / "mail-domain.png")
    output = plugin_output(dom)
    # "handled": its host has no active checks, so is pending
    assert '<td class="state-col state-warning handled">' in dom, "the service is not WARNING"
    lines = re.findall(r'^\\_ <span class="state-(\w+)">\[(\w+)\]</span> (.*)$', output, re.M)
    assert len(lines) == len(PROBE_STATES), output
    for (tag, word, text), (state, start) in zip(lines, PROBE_STATES):
        assert tag == state == word.lower() and text.startswith(start), output


def test_a_template_for_another_command_fails_the_page_test(graphite_url, ido):
    """The page test sees when the template is not used: here its phases graph is written
    for a command named smtp, and the page shows the module's generic graphs instead."""
    broken = broken_copy(
        SHIPPED, "smtp_helo.ini", 'check_command = "smtp_helo"', 'check_command = "smtp"'
    )
    try:
        with (
            IcingaWeb(ido.database, graphite_url, broken / "smtp_helo.ini") as site,
            pytest.raises(AssertionError, match="not the shipped template's graphs"),
        ):
            assert_service_page(site, "smtp-postfix")
    finally:
        shutil.rmtree(broken.parent)
