"""Integration: the shipped graph definitions, proven from plugin to picture.

One private Icinga 2 runs the shipped CheckCommand every second against six servers: the
real Debian Postfix with README's limits (-w 1 -c 2), one that waits 300 ms before its
banner and again before its EHLO reply (-w 0.5 -c 1), one whose answers cross the warning
limit half the time, one that is down half the time, one with STARTTLS checked with -D, and
one that the check logs in to (AUTH) and gives a recipient (RCPT TO), which delays AUTH and
RCPT TO. Its GraphiteWriter feeds a private carbon-cache (read back by graphite-web and by
the icingaweb2-module-graphite's own PHP code), its InfluxdbWriter a private influxd
(queried with every query of the shipped Grafana dashboard). The PNP4Nagios template is run
by php-cli on an RRD built as PNP's process_perfdata.pl builds it, and drawn by rrdtool.
The pictures are decoded: the phases must fill the plot, whatever the limits.
"""

from __future__ import annotations

import configparser
import datetime
import json
import re
import shlex
import shutil
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from graphstack import Carbon
from helpers import ROOT, Perf, private_directory, run_check, unavailable
from pictures import colours, column_heights, pixels
from servers import Peer, Script, ScriptedServer, authenticator, delayed, smtpd

pytestmark = pytest.mark.integration

HOST = "mail.test"  # GraphiteWriter writes it as mail_test
SHIPPED = ROOT / "icinga-config"
DELAY = 0.3  # before the banner and before the EHLO reply: time is about 2 x DELAY
PERIOD = 3  # seconds: the crossing server is fast, then slow; the intermittent one up, then down
FAST, SLOW = 0.02, 0.15  # the crossing server's delays (twice each): time 40 or 300 ms
TIMEOUT = 10
# -w and -c of the services that set them, in seconds: README's for the real Postfix
LIMITS = {"smtp-postfix": (1, 2), "smtp-300ms": (0.5, 1), "smtp-crossing": (0.2, 1)}
CERT_DAYS = 90.5
PHASES = ("connect", "tls", "banner", "helo")  # stacked, in this order; time is their sum
STEPS = ("auth", "mail")  # stacked; transaction is the phases and the steps together
AUTH_DELAY, RCPT_DELAY = 0.1, 0.05  # before the AUTH exchange and before the RCPT TO reply
STEP_DELAYS = {"auth": AUTH_DELAY, "mail": RCPT_DELAY, "transaction": AUTH_DELAY + RCPT_DELAY}
USER, PASSWORD, RECIPIENT = "monitor", "pencil", "postmaster@example.com"
PLAIN = {"dns", "connect", "banner", "helo", "time"}
# The perfdata labels each service sends: a renamed label fails these tests.
SERVICES = {
    "smtp-postfix": PLAIN,
    "smtp-300ms": PLAIN,
    "smtp-crossing": PLAIN,
    "smtp-down": PLAIN,  # dns and connect only while it is down: CRITICAL, no time
    "smtp-tls": PLAIN | {"tls", "cert_days"},
    "smtp-steps": PLAIN | {"auth", "mail", "transaction"},
}
SERVICE = """
object Service "{name}" {{
  import "every-second"
  host_name = "{host}"
  check_command = "smtp_helo"
  vars.smtp_helo_port = {port}
{extra}}}
"""
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
"""


def crossing(period: float) -> Script:
    """A correct SMTP peer that is fast for `period` seconds, then slow as long, and so on:
    its response time crosses a warning limit between the two half the time."""

    def script(peer: Peer) -> None:
        slow = int(time.monotonic() / period) % 2
        delayed(SLOW, SLOW)(peer) if slow else delayed(FAST, FAST)(peer)

    return script


def intermittent(period: float) -> Script:
    """A correct SMTP peer for `period` seconds, then one that closes every connection at
    once, without a banner (down), as long, and so on."""

    def script(peer: Peer) -> None:
        if int(time.monotonic() / period) % 2 == 0:
            delayed(SLOW, SLOW)(peer)

    return script


def is_down(period: float = PERIOD) -> bool:
    """Whether intermittent(period) is in its down half now."""
    return int(time.monotonic() / period) % 2 == 1


@dataclass
class Servers:
    ports: dict[str, int]  # by service
    ca_file: Path


@pytest.fixture(scope="module")
def servers(graph_postfix):
    """The SMTP servers the checks talk to, and the CA file for the TLS one."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca = trustme.CA()
    directory = private_directory("ca")
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(
        "localhost",
        "127.0.0.1",
        not_before=now - datetime.timedelta(days=1),
        not_after=now + datetime.timedelta(days=CERT_DAYS),
    ).configure_cert(context)
    with (
        ScriptedServer(delayed(DELAY, DELAY)) as slow,
        ScriptedServer(crossing(PERIOD)) as crosses,
        ScriptedServer(intermittent(PERIOD)) as down,
        smtpd(ident="ESMTP aiosmtpd", tls_context=context) as tls_port,
        smtpd(
            ident="ESMTP aiosmtpd",
            authenticator=authenticator(USER, PASSWORD),
            auth_require_tls=False,
            auth_delay=AUTH_DELAY,
            rcpt_delay=RCPT_DELAY,
        ) as steps_port,
    ):
        ports = {
            "smtp-postfix": graph_postfix,
            "smtp-300ms": slow.port,
            "smtp-crossing": crosses.port,
            "smtp-down": down.port,
            "smtp-tls": tls_port,
            "smtp-steps": steps_port,
        }
        yield Servers(ports, directory / "ca.pem")
    shutil.rmtree(directory)


def graphite_path(service: str, label: str, field: str = "value") -> str:
    return f"icinga2.mail_test.services.{service}.smtp_helo.perfdata.{label}.{field}"


def slots(carbon: Carbon, metric: str) -> dict[int, float]:
    """The filled whisper slots of a metric by timestamp."""
    return {t: v for t, v in carbon.fetch(metric) if v is not None}


def service_variables(service: str, servers: Servers) -> dict[str, object]:
    """The CheckCommand's custom variables of a service, but its port."""
    variables: dict[str, object] = {}
    if service in LIMITS:
        variables |= dict(zip(("warning", "critical"), LIMITS[service]))
    if service == "smtp-tls":
        variables |= {
            "starttls": True,
            "ca_file": str(servers.ca_file),
            "certificate_days": "30,14",
        }
    if service == "smtp-steps":
        variables |= {"auth_user": USER, "auth_password": PASSWORD, "rcpt_to": RECIPIENT}
        variables["allow_plaintext_auth"] = True
    return variables


def checks(servers: Servers, services=SERVICES, host: str = HOST) -> str:
    """The Icinga 2 host and services that check these servers."""
    body = CHECKS.format(host=host)
    for name in services:
        extra = "".join(
            f"  vars.smtp_helo_{key} = {json.dumps(value)}\n"
            for key, value in service_variables(name, servers).items()
        )
        body += SERVICE.format(name=name, host=host, port=servers.ports[name], extra=extra)
    return body


@pytest.fixture(scope="module")
def graph_run(writer_icinga, carbon, influxd, servers):
    """Icinga 2 runs the services until carbon and influxd hold several results of each
    (the first results may be lost while GraphiteWriter connects: it retries every 10 s)."""
    icinga = writer_icinga(checks(servers))

    def enough() -> bool:
        """Three results of every label a service sent, whatever the labels are: the tests
        say which ones they expect."""
        for service in SERVICES:
            stored = [m for m in carbon.metrics() if f".services.{service}." in m]
            counts = influxd.query(
                f'SELECT count("value") FROM "smtp_helo" WHERE "service" = \'{service}\' '
                'GROUP BY "metric"'
            )[0].get("series", [])
            if not stored or not counts:
                return False
            if min(len(slots(carbon, m)) for m in stored) < 3:
                return False
            if min(series["values"][0][1] for series in counts) < 3:
                return False
        # the crossing server above and below its warning limit, the intermittent one down
        # between two answers (a slot without time), and enough of them to draw
        crossing = slots(carbon, graphite_path("smtp-crossing", "time")).values()
        warning = LIMITS["smtp-crossing"][0]
        if not (any(v > warning for v in crossing) and any(v < warning for v in crossing)):
            return False
        down = [v for _, v in carbon.fetch(graphite_path("smtp-down", "time"))]
        filled = [i for i, v in enumerate(down) if v is not None]
        return len(filled) >= 8 and None in down[filled[0] : filled[-1]]

    icinga.run_until(icinga.command(), enough, timeout=90)
    return icinga


def expected_paths() -> set[str]:
    paths = set()
    for service, labels in SERVICES.items():
        for label in labels:
            paths.add(graphite_path(service, label))
            if label != "cert_days":  # a count of days: no min
                paths.add(graphite_path(service, label, "min"))
        if "time" in labels:
            paths.add(graphite_path(service, "time", "max"))
    paths |= {
        graphite_path(service, "time", field) for service in LIMITS for field in ("warn", "crit")
    }
    # -D 30,14 sends cert_days=...;30:;14: and Icinga 2 drops range thresholds: no warn/crit.
    return paths


def test_graphite_writer_stores_exactly_these_metrics(graph_run, carbon):
    assert carbon.metrics() == expected_paths()


def test_stored_values(graph_run, carbon):
    time_slots = slots(carbon, graphite_path("smtp-300ms", "time"))
    for t, total in time_slots.items():
        assert 2 * DELAY <= total < 2 * DELAY + 0.15, (t, total)
    for t, total in slots(carbon, graphite_path("smtp-postfix", "time")).items():
        assert 0 < total < 0.1, (t, total)  # on loopback: well under a millisecond, mostly
    for service in ("smtp-postfix", "smtp-300ms", "smtp-tls"):
        phases = [
            slots(carbon, graphite_path(service, p)) for p in PHASES if p in SERVICES[service]
        ]
        for t, total in slots(carbon, graphite_path(service, "time")).items():
            assert sum(phase[t] for phase in phases) == pytest.approx(total, abs=0.002), t
    for service, (warning, critical) in LIMITS.items():
        fields = {"warn": warning, "crit": critical, "min": 0, "max": TIMEOUT}
        for field, expected in fields.items():
            stored = set(slots(carbon, graphite_path(service, "time", field)).values())
            assert stored == {expected}, (service, field)
    days = set(slots(carbon, graphite_path("smtp-tls", "cert_days")).values())
    assert all(CERT_DAYS - 0.1 < d <= CERT_DAYS for d in days), days
    steps = {p: slots(carbon, graphite_path("smtp-steps", p)) for p in SERVICES["smtp-steps"]}
    for t, total in steps["transaction"].items():
        for step in STEPS:
            assert STEP_DELAYS[step] <= steps[step][t] < STEP_DELAYS[step] + 0.15, (step, t)
        parts = ("connect", "banner", "helo", *STEPS)
        assert sum(steps[p][t] for p in parts) == pytest.approx(total, abs=0.002), t


def test_graphite_web_renders_what_whisper_holds(graph_run, carbon, graphite_web):
    for metric in sorted(expected_paths()):
        (series,) = graphite_web.render(metric)
        assert series["target"] == metric
        rendered = {t: v for v, t in series["datapoints"] if v is not None}
        assert rendered == slots(carbon, metric), metric


GRAPHITE_TEMPLATE = SHIPPED / "graphite" / "smtp_helo.ini"
PHASE_COLOURS = {
    "connect": "#3b6fb6",
    "tls": "#8f5fbf",
    "banner": "#2ca02c",
    "helo": "#17becf",
    "time": "#f0c419",
    "dns": "#8c564b",
}
LIMIT_COLOURS = {"warning": "#ff8c00", "critical": "#e31a1c"}
CERTIFICATE_COLOUR = "#1b9e77"
STEP_COLOURS = {"auth": "#7570b3", "mail": "#66a61e", "transaction": "#e7298a"}
DOMAIN_COLOURS = {"probe": "#9467bd", "addresses": "#e377c2", "answered": "#bcbd22"}
CURVE_COLOURS = {
    **PHASE_COLOURS,
    **LIMIT_COLOURS,
    "days": CERTIFICATE_COLOUR,
    **STEP_COLOURS,
    **DOMAIN_COLOURS,
}
FAINT = {"connect", "dns"}  # well under a millisecond on loopback: a row of pixels, or none
AREAS = {PHASE_COLOURS[phase] for phase in PHASES}  # the stacked phases
ANSWERS = {PHASE_COLOURS[curve] for curve in ("tls", "banner", "helo", "time")}  # not when down
SHARE = 0.25  # of the plot height: the least the tallest stack of phases must fill
GAP = 10  # columns: the least width of a gap (a 2 s slot of a 40 s graph is about 40)


def assert_drawn(png: Path, curves: set[str], maybe: set[str] = FAINT) -> None:
    """Each curve's colour covers pixels of the picture (drawn with no legend), and no
    other curve's does; a faint curve may be too thin to show, a limit above the axis is
    not drawn at all."""
    seen = colours(png.read_bytes())
    drawn = {curve for curve, colour in CURVE_COLOURS.items() if seen[colour] >= 20}
    assert curves - maybe <= drawn <= curves, (png.name, seen.most_common(12))


def assert_phases_fill(png: Path, plot_height: int) -> None:
    """The stacked phases reach SHARE of the plot height: the axis follows the data. A limit
    that stretched it (-w 1 against a server answering in 0.4 ms) would leave them a line."""
    tallest = max(column_heights(png.read_bytes(), AREAS))
    assert tallest >= SHARE * plot_height, (
        f"{png.name}: the phases reach {tallest} of {plot_height} px: the axis does not "
        "follow the data"
    )


def assert_gaps(png: Path) -> None:
    """Failed checks (no time, no banner) leave gaps: between the first and the last column
    that shows an answer, runs of columns that show none, one of them GAP columns wide at
    least (a slot without a result). A failed check drawn as zero would draw the time line
    along the bottom there."""
    heights = column_heights(png.read_bytes(), ANSWERS)
    drawn = [x for x, height in enumerate(heights) if height]
    runs = "".join("x" if heights[x] else " " for x in range(drawn[0], drawn[-1])).split("x")
    widest = max(map(len, runs))
    assert widest >= GAP, f"{png.name}: the widest gap is {widest} columns"


LIMITED = {"time", "warning", "critical"}
GRAPHITE_CHARTS = {
    "smtp-postfix": {"smtp_helo-phases": PLAIN, "smtp_helo-limits": LIMITED},
    "smtp-300ms": {"smtp_helo-phases": PLAIN, "smtp_helo-limits": LIMITED},
    "smtp-crossing": {"smtp_helo-phases": PLAIN, "smtp_helo-limits": LIMITED},
    "smtp-down": {"smtp_helo-phases": PLAIN, "smtp_helo-limits": {"time"}},
    "smtp-tls": {
        "smtp_helo-phases": PLAIN | {"tls"},
        "smtp_helo-limits": {"time"},
        "smtp_helo-certificate": {"days"},
    },
    "smtp-steps": {
        "smtp_helo-phases": PLAIN,
        "smtp_helo-limits": {"time"},
        "smtp_helo-steps": set(STEP_COLOURS),
    },
}
CHART_SECONDS = 40  # the graphs' time range: the run holds at least 16 s of results


def chart_metric(service: str, metric: str) -> str:
    """The Graphite path a chart's curve must draw for a service."""
    label, field = metric.split(".")[-2:]
    return graphite_path(service, label, field)


@pytest.mark.parametrize("service", sorted(GRAPHITE_CHARTS))
def test_graphite_module_draws_the_charts(graph_run, graphite_web, service):
    """The module's own code loads the template, finds the metrics, and graphite-web draws
    every curve: each one's colour is in the picture (the legend is off). Exactly these
    charts: the limits and the certificate and the steps for the services that send them.
    The phases fill the plot of the fast real Postfix and the 300 ms server alike, and a
    server down half the time leaves gaps."""
    charts = graphite_web.module_charts(GRAPHITE_TEMPLATE, HOST, service, seconds=CHART_SECONDS)
    expected = GRAPHITE_CHARTS[service]
    assert sorted(chart["template"] for chart in charts) == sorted(expected)
    for chart in charts:
        curves = expected[chart["template"]]
        assert set(chart["metrics"]) == curves, chart
        for metric in chart["metrics"].values():
            assert metric == chart_metric(service, metric), chart
        assert_drawn(Path(chart["png"]), curves)
    (phases,) = (Path(chart["png"]) for chart in charts if chart["template"] == "smtp_helo-phases")
    if service in ("smtp-postfix", "smtp-300ms"):
        assert_phases_fill(phases, len(pixels_of(phases)))
    if service == "smtp-down":
        assert_gaps(phases)
    drawn = {metric for chart in charts for metric in chart["metrics"].values()}
    sent = {graphite_path(service, label) for label in SERVICES[service]}
    assert sent <= drawn, "a label no chart draws gets a generic graph of its own"
    if service in LIMITS:
        assert limit_legend(graphite_web, service) == {
            f"{kind} {1000 * limit:g} ms" for kind, limit in zip(LIMIT_COLOURS, LIMITS[service])
        }


def limit_legend(graphite_web, service: str) -> set[str]:
    """The legend names of the limits chart's limit curves, as graphite-web renders the
    template's functions of them."""
    template = configparser.ConfigParser(interpolation=None)
    template.read(GRAPHITE_TEMPLATE)
    functions = template["smtp_helo-limits.functions"]
    fields = {"warning": "warn", "critical": "crit"}
    names = set()
    for curve, field in fields.items():
        target = (
            functions[curve].strip('"').replace("$metric$", graphite_path(service, "time", field))
        )
        names |= {series["target"] for series in graphite_web.render(target)}
    return names


def pixels_of(png: Path) -> list[list[str]]:
    return pixels(png.read_bytes())


def test_a_limit_in_the_phases_chart_fails_the_graph_test(graph_run, graphite_web, tmp_path):
    """The warning limit drawn in the phases chart, as a curve, stretches its axis for the
    real Postfix: the phases become a line at the bottom, and the test says so."""
    text = GRAPHITE_TEMPLATE.read_text()
    for section, line in (
        ("[smtp_helo-phases.urlparams]", '"$service_name_template$.perfdata.time.warn"'),
        ("; Chart 2:", "\"alias(color(scale($metric$, 1000), '#ff8c00'), 'w')\""),
    ):
        assert section in text
        text = text.replace(section, f"warning = {line}\n\n{section}", 1)
    broken = tmp_path / "smtp_helo.ini"
    broken.write_text(text)
    charts = graphite_web.module_charts(broken, HOST, "smtp-postfix", seconds=CHART_SECONDS)
    (phases,) = (Path(chart["png"]) for chart in charts if chart["template"] == "smtp_helo-phases")
    with pytest.raises(AssertionError, match="the axis does not follow the data"):
        assert_phases_fill(phases, len(pixels_of(phases)))


DASHBOARD = SHIPPED / "grafana" / "smtp_helo-influxdb.json"
GRAFANA_VARIABLES = {"$command": "smtp_helo", "$hostname": HOST}


def grafana_query(query: str, service: str) -> str:
    """A dashboard query as Grafana sends it for this host and service, over the last hour."""
    macros = {**GRAFANA_VARIABLES, "$service": service, "$timeFilter": "time > now() - 1h"}
    for name, value in {**macros, "$__interval": "2s"}.items():
        query = query.replace(name, value)
    assert "$" not in query, query
    return query


def test_grafana_variables_list_the_hosts_and_services(graph_run, influxd):
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert set(variables) == {"hostname", "service", "command"}  # as icingaweb2-module-grafana
    assert variables["command"]["query"] == "smtp_helo"
    for name, expected in (("hostname", {HOST}), ("service", set(SERVICES))):
        query = grafana_query(variables[name]["query"], "")
        (series,) = influxd.query(query)[0]["series"]
        assert {value for _, value in series["values"]} == expected, query


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_grafana_query_returns_its_series(graph_run, influxd, service):
    """Each panel query returns its series exactly when the service sends that label; the
    limit queries only where -w/-c are set. Values are in milliseconds (days for cert_days);
    a bucket without a result is null (a gap, not zero)."""
    dashboard = json.loads(DASHBOARD.read_text())
    queried = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            query = target["query"]
            (label,) = re.findall(r"\"metric\" = '(\w+)'", query)
            aliases = re.findall(r'AS "([\w ]+)"', query)
            queried.add(label)
            result = influxd.query(grafana_query(query, service))[0]
            limits = aliases == ["warning", "critical"]
            expected = label in SERVICES[service] and (not limits or service in LIMITS)
            assert ("series" in result) == expected, (query, result)
            if not expected:
                continue
            (series,) = result["series"]
            assert series["columns"] == ["time", *aliases]
            rows = [row[1:] for row in series["values"] if row[1] is not None]
            assert len(rows) >= (1 if "GROUP BY" not in query else 3), query
            if limits:
                warning, critical = LIMITS[service]
                assert set(map(tuple, rows)) == {(warning * 1000, critical * 1000)}
            elif label == "time" and service == "smtp-300ms":
                assert all(2000 * DELAY <= ms < 2000 * DELAY + 150 for (ms,) in rows), rows
            elif label == "time" and service == "smtp-postfix":
                assert all(0 < ms < 100 for (ms,) in rows), rows
            elif label == "cert_days":
                assert all(CERT_DAYS - 0.1 < days <= CERT_DAYS for (days,) in rows), rows
            elif label in STEP_DELAYS:
                low = 1000 * STEP_DELAYS[label]
                assert all(low <= ms < low + 150 for (ms,) in rows), (label, rows)
    assert queried == {*PHASES, "time", "cert_days", *STEPS, "transaction"}


def test_grafana_draws_no_limit_as_a_series():
    """Grafana scales the axis to every series it draws: the -w/-c limits are thresholds, set
    from their query by the transformation Config from query results, and the series that
    names their values in the legend is hidden from the graph. A panel that drew a limit as
    a series would squash the phases of a fast server to a line at the bottom."""
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        configured = {
            t["options"]["configRefId"]
            for t in panel.get("transformations", [])
            if t["id"] == "configFromData"
        }
        hidden = {
            override["matcher"]["options"]
            for override in panel["fieldConfig"]["overrides"]
            for prop in override["properties"]
            if prop["id"] == "custom.hideFrom" and prop["value"]["viz"]
        }
        for target in panel["targets"]:
            if re.search(r'"(warn|crit)"', target["query"]):
                aliases = set(re.findall(r'AS "([\w ]+)"', target["query"]))
                assert target["refId"] in configured or aliases <= hidden, (panel["title"], target)
        if configured:
            mode = panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"]
            assert mode != "off", panel["title"]


PNP_TEMPLATE = SHIPPED / "pnp4nagios" / "check_smtp_helo.php"
PNP_RUNNER = ROOT / "tests" / "support" / "pnp_template.php"


def pnp_variables(rrd: Path, perfdata: dict[str, Perf], service: str) -> dict:
    """What process_perfdata.pl records for one service (RRD_STORAGE_TYPE = SINGLE: one
    RRD, data sources named 1, 2, ... in perfdata order), as PNP hands it to a template.
    As its _parse does, a range threshold 'a:b' leaves WARN empty and becomes WARN_MIN a,
    WARN_MAX b, WARN_RANGE_TYPE outside (and the same for CRIT)."""
    variables: dict = {"hostname": HOST, "servicedesc": service}
    for i, (label, perf) in enumerate(perfdata.items(), start=1):
        fields = {"RRDFILE": str(rrd), "DS": str(i), "NAME": label, "UNIT": perf.uom}
        fields |= {"ACT": perf.value, "MIN": perf.min, "MAX": perf.max}
        for kind, given in (("WARN", perf.warn), ("CRIT", perf.crit)):
            low, colon, high = given.partition(":")
            fields[kind] = "" if colon else given
            fields[f"{kind}_MIN"] = low if colon else ""
            fields[f"{kind}_MAX"] = high
            fields[f"{kind}_RANGE_TYPE"] = "outside" if colon else ""
        for name, value in fields.items():
            variables.setdefault(name, {})[str(i)] = value
    return variables


PNP_PHASES = {"connect", "banner", "helo", "time"}
PNP_GRAPHS = {
    "smtp-postfix": {"SMTP phases": PNP_PHASES | set(LIMIT_COLOURS)},
    "smtp-300ms": {"SMTP phases": PNP_PHASES | set(LIMIT_COLOURS)},
    "smtp-crossing": {"SMTP phases": PNP_PHASES | set(LIMIT_COLOURS)},
    "smtp-down": {"SMTP phases": PNP_PHASES},
    "smtp-tls": {
        "SMTP phases": PNP_PHASES | {"tls"},
        "Certificate days left": {"days", "warning", "critical"},
    },
    "smtp-steps": {"SMTP phases": PNP_PHASES, "Steps beyond EHLO": set(STEP_COLOURS)},
}


def pnp_options(service: str, servers: Servers) -> list[str]:
    """The command line of a service, as the CheckCommand builds it from its variables."""
    if service in LIMITS:
        warning, critical = LIMITS[service]
        return ["-w", str(warning), "-c", str(critical)]
    if service == "smtp-tls":
        return ["-S", "-D", "30,14", "--ca-file", str(servers.ca_file)]
    if service == "smtp-steps":
        return ["--auth-user", USER, "--allow-plaintext-auth", "--rcpt-to", RECIPIENT]
    return []


def pnp_runs(service: str, servers: Servers) -> list:
    """Four results of the service in a row; from the crossing and the intermittent server
    two of each kind (fast and slow, up and down), alternating."""
    port = str(servers.ports[service])
    env = {"CHECK_SMTP_HELO_PASSWORD": PASSWORD}
    kinds: dict[bool, list] = {False: [], True: []}
    deadline = time.monotonic() + 60
    while min(map(len, kinds.values())) < 2 and time.monotonic() < deadline:
        run = run_check("-H", "127.0.0.1", "-p", port, *pnp_options(service, servers), env=env)
        if service == "smtp-crossing":
            kinds[float(run.perfdata["time"].value) > LIMITS[service][0]].append(run)
        elif service == "smtp-down":
            kinds["time" not in run.perfdata].append(run)
        else:
            kinds[len(kinds[False]) >= 2].append(run)
        time.sleep(0.3)
    return [kinds[False][0], kinds[True][0], kinds[False][1], kinds[True][1]]


@pytest.mark.parametrize("service", sorted(PNP_GRAPHS))
def test_pnp4nagios_template_draws_with_rrdtool(servers, tmp_path, service):
    """Real plugin output into an RRD as PNP builds it (a label a result lacks unknown),
    the shipped template run by php-cli, its $opt and $def drawn by rrdtool graph: every
    curve's colour is in the picture. The phases fill the plot for the real Postfix and the
    300 ms server, with the limits named in the legend but drawn only where the axis reaches
    them; the crossing server's warning limit is drawn; a server down half the time leaves
    gaps."""
    if not shutil.which("rrdtool") or not shutil.which("php"):
        unavailable("rrdtool or php-cli is missing: apt-get install rrdtool php-cli")
    runs = pnp_runs(service, servers)
    complete = next(run for run in runs if set(run.perfdata) == SERVICES[service])
    labels = list(complete.perfdata)
    rrd = tmp_path / f"{service}.rrd"
    start = int(time.time()) - 60
    sources = [f"DS:{i}:GAUGE:8460:U:U" for i in range(1, len(labels) + 1)]
    archives = [f"RRA:{cf}:0.5:1:600" for cf in ("AVERAGE", "MIN", "MAX")]
    subprocess.run(
        ["rrdtool", "create", rrd, "--start", str(start - 1), "--step", "1", *sources, *archives],
        check=True,
    )
    # each result held for 10 s, as a check every 10 s would leave it
    updates = [
        f"{start + 10 * number + second}:"
        + ":".join(run.perfdata[label].value if label in run.perfdata else "U" for label in labels)
        for number, run in enumerate(runs)
        for second in range(10)
    ]
    subprocess.run(["rrdtool", "update", rrd, *updates], check=True)
    (tmp_path / "variables.json").write_text(
        json.dumps(pnp_variables(rrd, complete.perfdata, service))
    )
    proc = subprocess.run(
        ["php", PNP_RUNNER, tmp_path / "variables.json", PNP_TEMPLATE],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and not proc.stderr, proc
    template = json.loads(proc.stdout)
    graphs = PNP_GRAPHS[service]
    assert sorted(template["ds_name"].values()) == sorted(graphs)
    for number, name in template["ds_name"].items():
        command = ["--start", str(start), "--end", str(start + 40), "--width", "500"]
        command += ["--height", "200", *shlex.split(template["opt"][number])]
        command += shlex.split(template["def"][number])
        png = tmp_path / f"{number}.png"
        # the legend apart: only data has colour in the picture
        plain = rrdtool_graph(png, [*command, "--no-legend"])
        assert_drawn(png, graphs[name], FAINT | set(LIMIT_COLOURS))
        if name != "SMTP phases":
            continue
        legend = rrdtool_graph(tmp_path / "legend.png", command)["legend"]
        if service in LIMITS:
            warning, critical = (f"{1000 * limit:g}" for limit in LIMITS[service])
            assert f"warning {warning} ms" in legend and f"critical {critical} ms" in legend
        if service in ("smtp-postfix", "smtp-300ms"):
            assert_phases_fill(png, int(plain["graph_height"]))
        if service == "smtp-postfix":
            assert float(plain["value_max"]) < 1000 * LIMITS[service][0], plain  # no stretch
            assert not {"warning", "critical"} & drawn_curves(png), "a limit above the data"
            shown = [float(v) for v in re.findall(r"last +([\d.]+) ms", " ".join(legend))]
            assert len(shown) == 4 and all(shown), legend  # sub-millisecond, not "0"
        if service == "smtp-crossing":
            assert "warning" in drawn_curves(png)
        if service == "smtp-down":
            assert_gaps(png)


def drawn_curves(png: Path) -> set[str]:
    seen = colours(png.read_bytes())
    return {curve for curve, colour in CURVE_COLOURS.items() if seen[colour] >= 20}


def rrdtool_graph(png: Path, arguments: list[str]) -> dict:
    """rrdtool graphv: draws the PNG and tells the plot's geometry and axis ('graph_height',
    'value_max') and the legend's texts ('legend', GPRINT values formatted)."""
    proc = subprocess.run(
        ["rrdtool", "graphv", png, *arguments], capture_output=True, text=True, check=True
    )
    facts: dict = {"legend": []}
    for line in proc.stdout.splitlines():
        key, _, value = line.partition(" = ")
        if key.startswith("legend["):
            facts["legend"].append(value.strip('"').strip())
        else:
            facts[key] = value
    return facts


DOMAIN_CHECK = """
object Host "domain.test" {{
  check_command = "dummy"
  enable_active_checks = false
  address = "127.0.0.1"
}}
object Service "mail-domain" {{
  host_name = "domain.test"
  check_command = "smtp_helo"
  check_interval = 1s
  retry_interval = 1s
  vars.smtp_helo_mx = "onedead.lab.example"
  vars.smtp_helo_resolver = "{resolver}"
  vars.smtp_helo_port = {port}
}}
"""
# The per-probe labels of onedead.lab.example in the mail domain lab (maillab.py): two of its
# three addresses answer, the third refuses (and has no time)
PROBES = ("mx1_lab_example_127_0_0_2", "mx1_lab_example___1")


def test_graphite_module_draws_each_probe_of_a_mail_domain(
    writer_icinga, carbon, graphite_web, influxd, mail_lab
):
    """A domain check's time_<host>_<address> labels pass GraphiteWriter and InfluxdbWriter as
    they are, the template's probes chart draws one chart for each address that answered, and
    the addresses chart both counts."""
    paths = {
        f"icinga2.domain_test.services.mail-domain.smtp_helo.perfdata.time_{probe}.value"
        for probe in PROBES
    }
    icinga = writer_icinga(DOMAIN_CHECK.format(resolver=mail_lab.resolver, port=mail_lab.port))

    def influx_labels() -> set[str]:
        result = influxd.query(
            'SHOW TAG VALUES FROM "smtp_helo" WITH KEY = "metric" WHERE "service" = \'mail-domain\''
        )[0]
        return {value for series in result.get("series", []) for _key, value in series["values"]}

    def stored() -> bool:
        in_carbon = paths <= carbon.metrics() and all(len(slots(carbon, p)) >= 2 for p in paths)
        return in_carbon and {f"time_{probe}" for probe in PROBES} <= influx_labels()

    icinga.run_until(icinga.command(), stored, timeout=90)
    labels = {"addresses", "addresses_ok", "dns", "time"} | {f"time_{p}" for p in PROBES}
    assert influx_labels() == labels
    charts = graphite_web.module_charts(GRAPHITE_TEMPLATE, "domain.test", "mail-domain", seconds=60)
    probes = [chart for chart in charts if chart["template"] == "smtp_helo-probes"]
    assert {chart["metrics"]["probe"] for chart in probes} == paths
    for chart in probes:
        assert set(chart["metrics"]) == {"probe"}
        assert_drawn(Path(chart["png"]), {"probe"})
    (addresses,) = (chart for chart in charts if chart["template"] == "smtp_helo-addresses")
    assert_drawn(Path(addresses["png"]), {"addresses", "answered"})
