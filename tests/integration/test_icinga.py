"""Integration: the shipped Icinga 2 configuration, validated and run by Debian's icinga2.

Icinga runs from a private directory in the foreground and drops root to user nagios, as
the packaged service does. The example host builds on Debian's stock generic-host template
(conf.d/templates.conf, from the installed package). What Icinga recorded is read from a
PerfdataWriter, and each perfdata item is parsed by its own parser (parse_performance_data).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from engines import (
    ICINGA,
    ICINGA_PATHS,
    PrivateEngine,
    broken_copy,
    changes,
    icinga_daemon,
    records,
    snapshot,
    system_state_stand_ins,
)
from helpers import (
    ROOT,
    TIME,
    TIME_PATTERN,
    owned_by,
    parse_perfdata,
    private_directory,
    unavailable,
)
from servers import authenticator, smtpd

pytestmark = pytest.mark.integration

SHIPPED = ROOT / "icinga-config" / "icinga2"
STOCK_TEMPLATES = "icinga2-common/etc/icinga2/conf.d/templates.conf"
PRELUDE = """\
include <itl>
include <plugins>
include "{templates}"
const PluginDir = "{plugins}"
const NodeName = "icinga-test.example"
object Endpoint NodeName {{}}
object Zone "master" {{ endpoints = [ NodeName ] }}
object Zone "global-templates" {{ global = true }}
"""
# Where a distributed setup keeps each shipped file (README: "Distributed monitoring").
LAYOUT = {
    "global-templates": ["smtp_helo-command.conf", "smtp_helo-services.conf"],
    "master": ["smtp_helo-example-hosts.conf", "smtp_helo-distributed-example.conf"],
}


class Icinga(PrivateEngine):
    """A private Icinga 2: configuration, zones, state, log and perfdata in one directory."""

    def __init__(
        self,
        plugins: Path,
        stock: Path,
        body: str = "",
        shipped: Path = SHIPPED,
        layout: dict = LAYOUT,
    ) -> None:
        if not Path(ICINGA).exists():
            unavailable("Debian's icinga2 is not installed: apt-get install icinga2-bin")
        super().__init__("icinga")
        self.etc = self.base / "etc"
        self.perfdata = self.base / "perfdata"
        self.seen: dict[str, dict[str, str]] = {}
        owned_by("nagios", self.perfdata)
        (self.etc / "zones.d").mkdir(parents=True)
        for zone, files in layout.items():
            (self.etc / "zones.d" / zone).mkdir()
            for name in files:
                shutil.copy(shipped / name, self.etc / "zones.d" / zone / name)
        (self.etc / "icinga2.conf").write_text(
            PRELUDE.format(plugins=plugins, templates=stock / STOCK_TEMPLATES) + body
        )

    def command(self, *extra: str) -> list[str]:
        return icinga_daemon(self.etc / "icinga2.conf", self.base, *extra)

    def append(self, text: str) -> None:
        """More configuration at the end of icinga2.conf."""
        with (self.etc / "icinga2.conf").open("a") as conf:
            conf.write(text)

    def validate(self) -> subprocess.CompletedProcess:
        return subprocess.run(self.command("-C"), capture_output=True, text=True, check=False)

    def started(self) -> bool:
        """Icinga is up: every object is active."""
        log = self.base / "daemon.log"
        return log.exists() and "Activated all objects." in log.read_text()

    def records(self) -> dict[str, dict[str, str]]:
        """The latest PerfdataWriter record of each service: SERVICE, STATE, OUTPUT, PERFDATA.
        Kept as they are seen: rotated files are named by the second, and the rotation at
        shutdown may rename an empty file over one rotated in the same second."""
        for path in sorted(self.perfdata.glob("service*")):
            self.seen.update(records(path.read_text()))
        return self.seen

    def run_until_checked(self, services: set[str]) -> dict[str, dict[str, str]]:
        """Run the daemon until every service has a check result; return the records."""
        self.run_until(self.command(), lambda: services <= set(self.records()))
        return self.seen


def icinga_parse(items: list[str]) -> list[dict]:
    """Each perfdata item as Icinga 2 parses it (PerfdataValue)."""
    script = (
        f"Json.encode({json.dumps(items)}.map(s => {{ var p = parse_performance_data(s); "
        "return {label = p.label, value = p.value, unit = p.unit, warn = p.warn, crit = p.crit, "
        "min = p.min, max = p.max} }))"
    )
    proc = subprocess.run(
        [ICINGA, "console", "--eval", script], capture_output=True, text=True, check=True
    )
    return json.loads(json.loads(proc.stdout.strip().splitlines()[-1]))


@pytest.fixture
def icinga_factory(engine_plugins, stock, made_engines):
    def make(body: str = "", shipped: Path = SHIPPED) -> Icinga:
        made_engines.append(Icinga(engine_plugins, stock, body, shipped))
        return made_engines[-1]

    return make


def test_shipped_configuration_validates(icinga_factory):
    proc = icinga_factory().validate()
    assert proc.returncode == 0, proc.stdout
    assert "Instantiated 7 Services." in proc.stdout  # 4 example services, a mail domain, 2 agent
    assert "Finished validating the configuration file(s)." in proc.stdout


@pytest.mark.parametrize(
    ("file", "old", "new", "error"),
    [
        (
            "smtp_helo-command.conf",
            'import "ipv4-or-ipv6"',
            'import "ipv4-or-ipv8"',
            "Import references unknown template: 'ipv4-or-ipv8'",
        ),
        (
            "smtp_helo-services.conf",
            'check_command = "smtp_helo"',
            'check_command = "smtp_hello"',
            "Error: Validation failed for object 'mail.example.com!smtp' of type 'Service'",
        ),
        (
            "smtp_helo-example-hosts.conf",
            "smtp_helo_critical = 5\n  }",
            "smtp_helo_critical = 5\n",
            "syntax error",
        ),
    ],
    ids=["unknown template", "unknown command", "syntax"],
)
def test_a_broken_copy_fails_validation(icinga_factory, file, old, new, error):
    broken = broken_copy(SHIPPED, file, old, new)
    proc = icinga_factory(shipped=broken).validate()
    shutil.rmtree(broken.parent)
    assert proc.returncode != 0
    assert error in proc.stdout, proc.stdout


def test_the_shipped_files_validate_from_a_checkout_nagios_cannot_enter(icinga_factory):
    """As from a clone in root's home (mode 700): Icinga 2, which switches to nagios, reads
    the shipped files in its own directory."""
    home = private_directory("home")
    home.chmod(0o700)
    proc = icinga_factory(shipped=shutil.copytree(SHIPPED, home / "icinga2")).validate()
    shutil.rmtree(home)
    assert proc.returncode == 0, proc.stdout
    assert "Instantiated 7 Services." in proc.stdout


RECORD = (
    "SERVICE::$service.name$\\tSTATE::$service.state$\\tOUTPUT::$service.output$"
    "\\tPERFDATA::$service.perfdata$"
)


def perfdata_writer(directory: Path) -> str:
    """A checker, and a PerfdataWriter into directory whose records Icinga.records() reads."""
    return f"""
object CheckerComponent "checker" {{}}
object PerfdataWriter "perfdata" {{
  service_perfdata_path = "{directory}/service"
  service_temp_path = "{directory}/service.tmp"
  host_perfdata_path = "{directory}/host"
  host_temp_path = "{directory}/host.tmp"
  service_format_template = "{RECORD}"
  rotation_interval = 1s
}}
"""


E2E = """
object Host "mail.test" {{
  check_command = "dummy"
  enable_active_checks = false
  address = "127.0.0.1"
  vars.smtp_helo["smtp-ok"] = {{
    check_interval = 1s
    smtp_helo_port = {ok_port}
    smtp_helo_email = "nagios@example.org"
    smtp_helo_warning = 1
    smtp_helo_critical = 2
  }}
  vars.smtp_helo["smtp-slow"] = {{
    check_interval = 1s
    smtp_helo_port = {slow_port}
    smtp_helo_warning = 0.2
    smtp_helo_critical = 5
  }}
}}
"""


def test_icinga_runs_the_shipped_command_and_parses_all_perfdata(icinga_factory):
    with (
        smtpd(ident="ESMTP aiosmtpd") as ok_port,
        smtpd(ehlo_delay=0.3, ident="ESMTP aiosmtpd") as slow_port,
    ):
        icinga = icinga_factory()
        icinga.append(
            perfdata_writer(icinga.perfdata) + E2E.format(ok_port=ok_port, slow_port=slow_port)
        )
        records = icinga.run_until_checked({"smtp-ok", "smtp-slow"})

    expected = {
        "smtp-ok": ("OK", f"SMTP OK - 127.0.0.1:{ok_port} answered in {TIME}, ", (1, 2)),
        "smtp-slow": (
            "WARNING",
            f"SMTP WARNING - 127.0.0.1:{slow_port} answered in {TIME}: "
            "response time outside warning range 0.2, ",
            (0.2, 5),
        ),
    }
    for service, (state, start, (warn, crit)) in expected.items():
        record = records[service]
        assert record["STATE"] == state, record
        output = record["OUTPUT"].strip()
        pattern = start.replace(".", r"\.").replace(TIME, TIME_PATTERN)
        assert re.match(pattern, output), output
        assert output.endswith("banner: 220 mx.test ESMTP aiosmtpd, helo: 250 mx.test"), output
        raw = record["PERFDATA"].split()
        parsed = icinga_parse(raw)
        assert len(parsed) == len(raw) == 5  # nothing dropped
        by_label = {item["label"]: item for item in parsed}
        assert set(by_label) == {"banner", "connect", "dns", "helo", "time"}
        for label, perf in parse_perfdata(record["PERFDATA"]).items():
            assert by_label[label]["value"] == pytest.approx(float(perf.value))
            assert by_label[label]["unit"] == "seconds"
            assert by_label[label]["min"] == 0
        assert (by_label["time"]["warn"], by_label["time"]["crit"], by_label["time"]["max"]) == (
            warn,
            crit,
            10,
        )
        for phase in ("banner", "connect", "dns", "helo"):
            assert (by_label[phase]["warn"], by_label[phase]["crit"], by_label[phase]["max"]) == (
                None,
                None,
                None,
            )


PASSWORD = "icinga-s3cret"
AUTH = """
object Host "submission.test" {{
  check_command = "dummy"
  enable_active_checks = false
  address = "127.0.0.1"
  vars.smtp_helo["submission"] = {{
    check_interval = 1s
    smtp_helo_port = {port}
    smtp_helo_auth_user = "monitor"
    smtp_helo_auth_password = "{password}"
    smtp_helo_allow_plaintext_auth = true
    smtp_helo_mail_from = "nagios@example.org"
    smtp_helo_rcpt_to = [ "postmaster@example.org", "root@example.org" ]
  }}
}}
"""


def netstrings(data: bytes) -> list[bytes]:
    """The records of Icinga's state file: netstrings, '<length>:<data>,' one after another."""
    items = []
    while data:
        length, _, rest = data.partition(b":")
        items.append(rest[: int(length)])
        data = rest[int(length) + 1 :]
    return items


def test_icinga_passes_the_auth_password_in_the_environment_only(icinga_factory):
    """The password reaches the plugin (AUTH succeeds), but not the command line that Icinga
    records and shows (last_check_result.command); the recipients array repeats --rcpt-to."""
    with smtpd(authenticator=authenticator("monitor", PASSWORD), auth_require_tls=False) as port:
        icinga = icinga_factory()
        icinga.append(perfdata_writer(icinga.perfdata) + AUTH.format(port=port, password=PASSWORD))
        records = icinga.run_until_checked({"submission"})
    record = records["submission"]
    assert record["STATE"] == "OK", record
    assert (
        record["OUTPUT"].strip().endswith("auth: 235 2.7.0 Authentication successful, mail: 250 OK")
    ), record
    state = netstrings((icinga.base / ICINGA_PATHS["StatePath"]).read_bytes())
    [service] = [s for s in map(json.loads, state) if s["name"] == "submission.test!submission"]
    command = service["update"]["last_check_result"]["command"]
    assert command[command.index("--auth-user") + 1] == "monitor"
    assert command.count("--rcpt-to") == 2 and "root@example.org" in command
    assert not any(PASSWORD in argument for argument in command), command


@pytest.mark.parametrize(
    ("left_out", "changed"),
    [(None, None), ("DataDir", "var_lib_icinga2"), ("CacheDir", "var_cache_icinga2")],
    ids=["every path set", "DataDir left out", "CacheDir left out"],
)
def test_a_private_icinga_writes_to_system_paths_only_when_one_is_left_out(
    icinga_factory, left_out, changed
):
    """Icinga runs where stand-ins take the place of the system state directories: with
    every path constant in its own directory nothing there changes, and the snapshot that
    guards the session sees a constant left to its system default."""
    icinga = icinga_factory()
    command = [arg for arg in icinga.command() if not arg.startswith(f"-D{left_out}=")]
    with system_state_stand_ins() as (prefix, copies):
        before = snapshot(copies)
        icinga.run_until([*prefix, *command], icinga.started)
        found = changes(before, snapshot(copies))
    if changed is None:
        assert found == []
    else:
        assert any(changed in line for line in found), found


DOMAIN = """
object Host "mail-domain.test" {{
  check_command = "dummy"
  enable_active_checks = false
  address = "127.0.0.1"
  vars.mail_domains["onedead.lab.example"] = {{
    check_interval = 1s
    smtp_helo_resolver = "{resolver}"
    smtp_helo_port = {port}
    smtp_helo_warning = 2
  }}
}}
"""


def test_icinga_runs_a_mail_domain_check(icinga_factory, mail_lab):
    icinga = icinga_factory()
    icinga.append(
        perfdata_writer(icinga.perfdata)
        + DOMAIN.format(resolver=mail_lab.resolver, port=mail_lab.port)
    )
    service = "mail-domain-onedead.lab.example"
    record = icinga.run_until_checked({service})[service]
    assert record["STATE"] == "WARNING", record
    # Icinga 2's output holds the long output too: one state per probe (times vary)
    first, *probes_seen = (line.strip() for line in record["OUTPUT"].strip().splitlines())
    assert first == (
        "SMTP WARNING - onedead.lab.example: 2 of 3 addresses OK, "
        "mx-dead.lab.example [127.0.0.9]: connection refused"
    ), record
    assert [line.split(": ", 1)[0] for line in probes_seen] == [
        "\\_ [OK] mx1.lab.example [127.0.0.2]",
        "\\_ [OK] mx1.lab.example [::1]",
        "\\_ [WARNING] mx-dead.lab.example [127.0.0.9]",
    ], record
    raw = record["PERFDATA"].split()
    by_label = {item["label"]: item for item in icinga_parse(raw)}
    assert len(by_label) == len(raw)  # nothing dropped
    probes = {"time_mx1_lab_example_127_0_0_2", "time_mx1_lab_example___1"}
    assert set(by_label) == {"addresses", "addresses_ok", "dns", "time", *probes}
    assert (by_label["addresses"]["value"], by_label["addresses_ok"]["value"]) == (3, 2)
    assert by_label["time_mx1_lab_example___1"]["unit"] == "seconds"
    assert by_label["time_mx1_lab_example___1"]["warn"] == 2
