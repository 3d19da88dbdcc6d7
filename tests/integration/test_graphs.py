"""Integration: the shipped graph definitions, proven from plugin to picture.

One private Icinga 2 runs the shipped CheckCommand every second against four servers: one
that delays its banner and its EHLO reply by DELAY, one with STARTTLS checked with -D, one
that never greets (so the check fails with no time), and one that the check logs in to
(AUTH) and gives a recipient (RCPT TO), which delays AUTH and RCPT TO. Its
GraphiteWriter feeds a private carbon-cache (read back by graphite-web and by the
icingaweb2-module-graphite's own PHP code), its InfluxdbWriter a private influxd (queried
with every query of the shipped Grafana dashboard). The PNP4Nagios template is run by
php-cli on an RRD built as PNP's process_perfdata.pl builds it, and drawn by rrdtool.
"""

from __future__ import annotations

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
from pictures import colours
from servers import ScriptedServer, authenticator, delayed, smtpd

pytestmark = pytest.mark.integration

HOST = "mail.test"  # GraphiteWriter writes it as mail_test
SHIPPED = ROOT / "icinga-config"
DELAY = 0.25  # before the banner and before the EHLO reply: time is about 2 x DELAY
WARNING, CRITICAL, TIMEOUT = 0.4, 1.0, 10
CERT_DAYS = 90.5
PHASES = ("connect", "tls", "banner", "helo")  # stacked, in this order; time is their sum
STEPS = ("auth", "mail")  # stacked; transaction is the phases and the steps together
AUTH_DELAY, RCPT_DELAY = 0.1, 0.05  # before the AUTH exchange and before the RCPT TO reply
STEP_DELAYS = {"auth": AUTH_DELAY, "mail": RCPT_DELAY, "transaction": AUTH_DELAY + RCPT_DELAY}
USER, PASSWORD, RECIPIENT = "monitor", "pencil", "postmaster@example.com"
# The perfdata labels each service sends: a renamed label fails these tests.
SERVICES = {
    "smtp-delay": {"dns", "connect", "banner", "helo", "time"},
    "smtp-tls": {"dns", "connect", "tls", "banner", "helo", "time", "cert_days"},
    "smtp-silent": {"dns", "connect"},  # no banner within -t 1: CRITICAL, no time
    "smtp-steps": {"dns", "connect", "banner", "helo", "time", "auth", "mail", "transaction"},
}
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
object Service "smtp-delay" {{
  import "every-second"
  host_name = "{host}"
  check_command = "smtp_helo"
  vars.smtp_helo_port = {delay_port}
  vars.smtp_helo_warning = {warning}
  vars.smtp_helo_critical = {critical}
}}
object Service "smtp-tls" {{
  import "every-second"
  host_name = "{host}"
  check_command = "smtp_helo"
  vars.smtp_helo_port = {tls_port}
  vars.smtp_helo_starttls = true
  vars.smtp_helo_ca_file = "{ca_file}"
  vars.smtp_helo_certificate_days = "30,14"
}}
object Service "smtp-silent" {{
  import "every-second"
  host_name = "{host}"
  check_command = "smtp_helo"
  vars.smtp_helo_port = {silent_port}
  vars.smtp_helo_timeout = 1
}}
object Service "smtp-steps" {{
  import "every-second"
  host_name = "{host}"
  check_command = "smtp_helo"
  vars.smtp_helo_port = {steps_port}
  vars.smtp_helo_auth_user = "{user}"
  vars.smtp_helo_auth_password = "{password}"
  vars.smtp_helo_allow_plaintext_auth = true
  vars.smtp_helo_rcpt_to = "{recipient}"
}}
"""


@dataclass
class Servers:
    delaying: int
    tls: int
    silent: int
    steps: int
    ca_file: Path


@pytest.fixture(scope="module")
def servers():
    """The four SMTP servers the checks talk to, and the CA file for the TLS one."""
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
        ScriptedServer(delayed(DELAY, DELAY)) as delaying,
        ScriptedServer(lambda peer: peer.hold()) as silent,
        smtpd(ident="ESMTP aiosmtpd", tls_context=context) as tls_port,
        smtpd(
            ident="ESMTP aiosmtpd",
            authenticator=authenticator(USER, PASSWORD),
            auth_require_tls=False,
            auth_delay=AUTH_DELAY,
            rcpt_delay=RCPT_DELAY,
        ) as steps_port,
    ):
        yield Servers(delaying.port, tls_port, silent.port, steps_port, directory / "ca.pem")
    shutil.rmtree(directory)


def graphite_path(service: str, label: str, field: str = "value") -> str:
    return f"icinga2.mail_test.services.{service}.smtp_helo.perfdata.{label}.{field}"


def slots(carbon: Carbon, metric: str) -> dict[int, float]:
    """The filled whisper slots of a metric by timestamp."""
    return {t: v for t, v in carbon.fetch(metric) if v is not None}


def checks(servers: Servers) -> str:
    """The Icinga 2 host and services that check these servers."""
    return CHECKS.format(
        host=HOST,
        delay_port=servers.delaying,
        tls_port=servers.tls,
        silent_port=servers.silent,
        steps_port=servers.steps,
        ca_file=servers.ca_file,
        user=USER,
        password=PASSWORD,
        recipient=RECIPIENT,
        warning=WARNING,
        critical=CRITICAL,
    )


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
        return True

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
    paths |= {graphite_path("smtp-delay", "time", field) for field in ("warn", "crit")}
    # -D 30,14 sends cert_days=...;30:;14: and Icinga 2 drops range thresholds: no warn/crit.
    return paths


def test_graphite_writer_stores_exactly_these_metrics(graph_run, carbon):
    assert carbon.metrics() == expected_paths()


def test_stored_values(graph_run, carbon):
    time_slots = slots(carbon, graphite_path("smtp-delay", "time"))
    for t, total in time_slots.items():
        assert 2 * DELAY <= total < 2 * DELAY + 0.15, (t, total)
    for service in ("smtp-delay", "smtp-tls"):
        phases = [
            slots(carbon, graphite_path(service, p)) for p in PHASES if p in SERVICES[service]
        ]
        for t, total in slots(carbon, graphite_path(service, "time")).items():
            assert sum(phase[t] for phase in phases) == pytest.approx(total, abs=0.002), t
    fields = {"warn": WARNING, "crit": CRITICAL, "min": 0, "max": TIMEOUT}
    for field, expected in fields.items():
        assert set(slots(carbon, graphite_path("smtp-delay", "time", field)).values()) == {expected}
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
    "warning": "#ff8c00",
    "critical": "#e31a1c",
    "dns": "#8c564b",
}
CERTIFICATE_COLOUR = "#1b9e77"
STEP_COLOURS = {"auth": "#7570b3", "mail": "#66a61e", "transaction": "#e7298a"}
DOMAIN_COLOURS = {"probe": "#9467bd", "addresses": "#e377c2", "answered": "#bcbd22"}
CURVE_COLOURS = {**PHASE_COLOURS, "days": CERTIFICATE_COLOUR, **STEP_COLOURS, **DOMAIN_COLOURS}
FAINT = {"connect", "dns"}  # well under a millisecond on loopback: a row of pixels, or none


def assert_drawn(png: Path, curves: set[str]) -> None:
    """Each curve's colour covers pixels of the picture (drawn with no legend), and no
    other curve's does; a faint curve may be too thin to show."""
    seen = colours(png.read_bytes())
    drawn = {curve for curve, colour in CURVE_COLOURS.items() if seen[colour] >= 20}
    assert curves - FAINT <= drawn <= curves, (png.name, seen.most_common(12))


@pytest.mark.parametrize(
    ("service", "curves"),
    [
        ("smtp-delay", {"dns", "connect", "banner", "helo", "time", "warning", "critical"}),
        ("smtp-tls", {"dns", "connect", "tls", "banner", "helo", "time"}),
        ("smtp-silent", {"dns", "connect"}),
        ("smtp-steps", {"dns", "connect", "banner", "helo", "time"}),
    ],
)
def test_graphite_module_draws_the_phases(graph_run, graphite_web, service, curves):
    """The module's own code loads the template, finds the metrics, and graphite-web draws
    every curve: each one's colour is in the picture (the legend is off). The certificate
    and the steps charts are there exactly for the services that send their labels."""
    charts = graphite_web.module_charts(GRAPHITE_TEMPLATE, HOST, service, seconds=30)
    (phases,) = (chart for chart in charts if chart["template"] == "smtp_helo-phases")
    assert set(phases["metrics"]) == curves
    for curve, metric in phases["metrics"].items():
        label, field = metric.split(".")[-2:]
        assert metric == graphite_path(service, label, field), curve
    assert_drawn(Path(phases["png"]), curves)
    certificate = [chart for chart in charts if chart["template"] == "smtp_helo-certificate"]
    assert len(certificate) == ("cert_days" in SERVICES[service])
    for chart in certificate:
        assert chart["metrics"] == {"days": graphite_path(service, "cert_days")}
        assert_drawn(Path(chart["png"]), {"days"})
    steps = [chart for chart in charts if chart["template"] == "smtp_helo-steps"]
    assert len(steps) == ("transaction" in SERVICES[service])
    for chart in steps:
        assert chart["metrics"] == {step: graphite_path(service, step) for step in STEP_COLOURS}
        assert_drawn(Path(chart["png"]), set(STEP_COLOURS))
    drawn = {metric for chart in charts for metric in chart["metrics"].values()}
    sent = {graphite_path(service, label) for label in SERVICES[service]}
    assert sent <= drawn, "a label no chart draws gets a generic graph of its own"


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
    threshold query only where -w/-c are set. Values are in milliseconds (days for cert_days)."""
    dashboard = json.loads(DASHBOARD.read_text())
    queried = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            query = target["query"]
            (label,) = re.findall(r"\"metric\" = '(\w+)'", query)
            aliases = re.findall(r'AS "([\w ]+)"', query)
            queried.add(label)
            result = influxd.query(grafana_query(query, service))[0]
            thresholds = aliases == ["warning", "critical"]
            expected = label in SERVICES[service] and (not thresholds or service == "smtp-delay")
            assert ("series" in result) == expected, (query, result)
            if not expected:
                continue
            (series,) = result["series"]
            assert series["columns"] == ["time", *aliases]
            rows = [row[1:] for row in series["values"]]
            assert len(rows) >= 3, query
            if thresholds:
                assert set(map(tuple, rows)) == {(WARNING * 1000, CRITICAL * 1000)}
            elif label == "time" and service == "smtp-delay":
                assert all(2000 * DELAY <= ms < 2000 * DELAY + 150 for (ms,) in rows), rows
            elif label == "cert_days":
                assert all(CERT_DAYS - 0.1 < days <= CERT_DAYS for (days,) in rows), rows
            elif label in STEP_DELAYS:
                low = 1000 * STEP_DELAYS[label]
                assert all(low <= ms < low + 150 for (ms,) in rows), (label, rows)
    assert queried == {*PHASES, "time", "cert_days", *STEPS, "transaction"}


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


@pytest.mark.parametrize(
    ("service", "options", "graphs"),
    [
        (
            "smtp-delay",
            ["-w", str(WARNING), "-c", str(CRITICAL)],
            {"SMTP phases": {"connect", "banner", "helo", "time", "warning", "critical"}},
        ),
        (
            "smtp-tls",
            ["-S", "-D", "30,14"],
            {
                "SMTP phases": {"connect", "tls", "banner", "helo", "time"},
                "Certificate days left": {"days", "warning", "critical"},
            },
        ),
        ("smtp-silent", ["-t", "1"], {"SMTP phases": {"connect"}}),
        (
            "smtp-steps",
            ["--auth-user", USER, "--allow-plaintext-auth", "--rcpt-to", RECIPIENT],
            {
                "SMTP phases": {"connect", "banner", "helo", "time"},
                "Steps beyond EHLO": {"auth", "mail", "transaction"},
            },
        ),
    ],
)
def test_pnp4nagios_template_draws_with_rrdtool(servers, tmp_path, service, options, graphs):
    """Real plugin output into an RRD as PNP builds it, the shipped template run by php-cli,
    its $opt and $def drawn by rrdtool graph: every curve's colour is in the picture."""
    if not shutil.which("rrdtool") or not shutil.which("php"):
        unavailable("rrdtool or php-cli is missing: apt-get install rrdtool php-cli")
    ports = {"smtp-delay": servers.delaying, "smtp-tls": servers.tls, "smtp-steps": servers.steps}
    port = ports.get(service, servers.silent)
    extra = ["--ca-file", str(servers.ca_file)] if service == "smtp-tls" else []
    env = {"CHECK_SMTP_HELO_PASSWORD": PASSWORD}
    runs = [
        run_check("-H", "127.0.0.1", "-p", str(port), *options, *extra, env=env) for _ in range(4)
    ]
    assert {tuple(run.perfdata) for run in runs} == {tuple(runs[0].perfdata)}, runs
    assert set(runs[0].perfdata) == SERVICES[service]
    rrd = tmp_path / f"{service}.rrd"
    start = int(time.time()) - 60
    sources = [f"DS:{i}:GAUGE:8460:U:U" for i in range(1, len(runs[0].perfdata) + 1)]
    archives = [f"RRA:{cf}:0.5:1:600" for cf in ("AVERAGE", "MIN", "MAX")]
    subprocess.run(
        ["rrdtool", "create", rrd, "--start", str(start - 1), "--step", "1", *sources, *archives],
        check=True,
    )
    # each result held for 10 s, as a check every 10 s would leave it
    updates = [
        f"{start + 10 * number + second}:" + ":".join(p.value for p in run.perfdata.values())
        for number, run in enumerate(runs)
        for second in range(10)
    ]
    subprocess.run(["rrdtool", "update", rrd, *updates], check=True)
    (tmp_path / "variables.json").write_text(
        json.dumps(pnp_variables(rrd, runs[-1].perfdata, service))
    )
    proc = subprocess.run(
        ["php", PNP_RUNNER, tmp_path / "variables.json", PNP_TEMPLATE],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and not proc.stderr, proc
    template = json.loads(proc.stdout)
    assert sorted(template["ds_name"].values()) == sorted(graphs)
    for number, name in template["ds_name"].items():
        png = tmp_path / f"{number}.png"
        command = ["rrdtool", "graph", png, "--start", str(start), "--end", str(start + 40)]
        command += ["--width", "500", "--height", "200", "--no-legend"]  # only data has colour
        command += [*shlex.split(template["opt"][number]), *shlex.split(template["def"][number])]
        subprocess.run(command, check=True, capture_output=True)
        assert_drawn(png, graphs[name])


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
