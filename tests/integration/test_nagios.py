"""Integration: the shipped Nagios configuration, validated and run by Debian's nagios4.

Nagios runs from a private directory in the foreground and drops root to user nagios. Its
objects build on Debian's stock templates, taken from the installed packages. What Nagios
recorded is read from its service perfdata file and status.dat.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from engines import (
    NAGIOS,
    PrivateEngine,
    broken_copy,
    changes,
    nagios_paths,
    records,
    snapshot,
    system_state_stand_ins,
)
from helpers import (
    ROOT,
    TIME,
    TIME_PATTERN,
    parse_perfdata,
    private_directory,
    unavailable,
)
from servers import authenticator, smtpd

pytestmark = pytest.mark.integration

SHIPPED = ROOT / "icinga-config" / "nagios"
# Debian's stock object configuration, from the installed packages: the templates
# (generic-host, generic-service, linux-server), time periods, contacts and commands of
# nagios4-common, and monitoring-plugins' check-host-alive.
STOCK = (
    "nagios4-common/etc/nagios4/objects/commands.cfg",
    "nagios4-common/etc/nagios4/objects/contacts.cfg",
    "nagios4-common/etc/nagios4/objects/timeperiods.cfg",
    "nagios4-common/etc/nagios4/objects/templates.cfg",
    "monitoring-plugins-basic/usr/share/monitoring-plugins/templates-basic/ping.cfg",
)
RECORD = (
    "SERVICE::$SERVICEDESC$\\tSTATE::$SERVICESTATE$\\tOUTPUT::$SERVICEOUTPUT$"
    "\\tPERFDATA::$SERVICEPERFDATA$"
)
MAIN = """\
{cfg_files}
resource_file={etc}/resource.cfg
{paths}status_update_interval=1
nagios_user=nagios
nagios_group=nagios
check_external_commands=0
enable_notifications=0
retain_state_information=0
interval_length=1
service_inter_check_delay_method=n
process_performance_data=1
service_perfdata_file={var}/service-perfdata
service_perfdata_file_template={record}
service_perfdata_file_mode=a
illegal_macro_output_chars=`~$&|'"<>
use_syslog=0
"""


class Nagios(PrivateEngine):
    """A private Nagios 4 with the shipped files (or a broken copy of them)."""

    def __init__(
        self, plugins: Path, stock: Path, shipped: Path, files: list[str], extra: str = ""
    ) -> None:
        if not Path(NAGIOS).exists():
            unavailable("Debian's nagios4 is not installed: apt-get install nagios4-core")
        super().__init__("nagios")
        self.etc, self.var = self.base / "etc", self.base / "var"
        self.etc.mkdir()
        (self.etc / "resource.cfg").write_text(f"$USER1$={plugins}\n")
        # Nagios reads its configuration as nagios, who may not enter the checkout (a clone
        # in root's mode-700 home): it reads a copy of the shipped files in its own directory.
        copy = shutil.copytree(shipped, self.etc / "shipped")
        cfg_files = [stock / name for name in STOCK] + [copy / name for name in files]
        if extra:
            (self.etc / "test.cfg").write_text(extra)
            cfg_files.append(self.etc / "test.cfg")
        self.main = self.etc / "nagios.cfg"
        self.main.write_text(
            MAIN.format(
                paths=nagios_paths(self.var),
                var=self.var,
                etc=self.etc,
                record=RECORD,
                cfg_files="\n".join(f"cfg_file={path}" for path in cfg_files),
            )
        )

    def validate(self) -> subprocess.CompletedProcess:
        return subprocess.run(
            [NAGIOS, "-v", str(self.main)], capture_output=True, text=True, check=False
        )

    def run_until_checked(self, services: set[str]) -> tuple[dict, dict]:
        """Run Nagios until every service has a result in the perfdata file and status.dat
        (read while it runs: Nagios deletes status.dat when it stops)."""
        seen: dict[str, dict] = {"records": {}, "status": {}}

        def checked() -> bool:
            path = self.var / "service-perfdata"
            seen["records"] = records(path.read_text()) if path.exists() else {}
            seen["status"] = seen["status"] if services <= set(seen["status"]) else self._status()
            return services <= set(seen["records"]) and services <= set(seen["status"])

        self.run_until([NAGIOS, str(self.main)], checked)
        return seen["records"], seen["status"]

    def started(self) -> bool:
        """Nagios is up: its query handler and workers are running."""
        log = self.base / "daemon.log"
        return log.exists() and "Successfully launched command file worker" in log.read_text()

    def _status(self) -> dict[str, dict[str, str]]:
        path = self.var / "status.dat"
        text = path.read_text(errors="replace") if path.exists() else ""
        found = {}
        for block in re.findall(r"servicestatus \{\n(.*?)\n\s*\}", text, re.S):
            fields = dict(line.strip().split("=", 1) for line in block.splitlines() if "=" in line)
            if fields.get("has_been_checked") == "1":
                found[fields["service_description"]] = fields
        return found


SHIPPED_FILES = [
    "smtp_helo-commands.cfg",
    "smtp_helo-services.cfg",
    "smtp_helo-example-services.cfg",
]


@pytest.fixture
def nagios_factory(engine_plugins, stock, made_engines):
    def make(shipped: Path = SHIPPED, files: list[str] = SHIPPED_FILES, extra: str = ""):
        made_engines.append(Nagios(engine_plugins, stock, shipped, files, extra))
        return made_engines[-1]

    return make


def test_shipped_configuration_validates(nagios_factory):
    proc = nagios_factory().validate()
    assert proc.returncode == 0, proc.stdout
    assert "Checked 5 services." in proc.stdout
    assert "Total Warnings: 0" in proc.stdout
    assert "Total Errors:   0" in proc.stdout


@pytest.mark.parametrize(
    ("file", "old", "new", "error"),
    [
        ("smtp_helo-commands.cfg", " command_line", " command_lime",
         "Invalid command object directive"),
        ("smtp_helo-services.cfg", "define service {", "define servce {",
         "Invalid object definition type"),
        ("smtp_helo-example-services.cfg", "check_command           check_smtp_helo!-s",
         "check_command           check_smtp_hello!-s", "check_smtp_hello"),
    ],
    ids=["bad directive", "bad object type", "unknown command"],
)  # fmt: skip
def test_a_broken_copy_fails_validation(nagios_factory, file, old, new, error):
    broken = broken_copy(SHIPPED, file, old, new)
    proc = nagios_factory(shipped=broken).validate()
    shutil.rmtree(broken.parent)
    assert proc.returncode != 0
    assert error in proc.stdout, proc.stdout


def test_the_shipped_files_validate_from_a_checkout_nagios_cannot_enter(nagios_factory):
    """As from a clone in root's home (mode 700): what Nagios reads is in its own directory."""
    home = private_directory("home")
    home.chmod(0o700)
    proc = nagios_factory(shipped=shutil.copytree(SHIPPED, home / "nagios")).validate()
    shutil.rmtree(home)
    assert proc.returncode == 0, proc.stdout
    assert "Total Errors:   0" in proc.stdout


HOST = """
define host {{
    use                     linux-server
    host_name               mail.test
    address                 127.0.0.1
    active_checks_enabled   0
}}
"""
E2E = (
    HOST
    + """
define service {{
    use                     smtp-helo-service
    host_name               mail.test
    service_description     smtp-ok
    check_command           check_smtp_helo!-p {ok_port} -w 1 -c 2 --email nagios@example.org
}}
define service {{
    use                     smtp-helo-service
    host_name               mail.test
    service_description     smtp-slow
    check_command           check_smtp_helo!-p {slow_port} -w 0.2 -c 5
}}
"""
)


def test_nagios_runs_the_shipped_command(nagios_factory):
    with (
        smtpd(ident="ESMTP aiosmtpd") as ok_port,
        smtpd(ehlo_delay=0.3, ident="ESMTP aiosmtpd") as slow_port,
    ):
        nagios = nagios_factory(
            files=["smtp_helo-commands.cfg", "smtp_helo-services.cfg"],
            extra=E2E.format(ok_port=ok_port, slow_port=slow_port),
        )
        records, status = nagios.run_until_checked({"smtp-ok", "smtp-slow"})

    # Nagios turns ';' in plugin output into ':', so the status line has none to lose.
    tail = ", banner: 220 mx.test ESMTP aiosmtpd, helo: 250 mx.test"
    expected = {
        "smtp-ok": ("OK", "0", f"SMTP OK - 127.0.0.1:{ok_port} answered in {TIME}{tail}", "1;2"),
        "smtp-slow": (
            "WARNING",
            "1",
            f"SMTP WARNING - 127.0.0.1:{slow_port} answered in {TIME}: response time outside "
            f"warning range 0.2{tail}",
            "0.2;5",
        ),
    }
    for service, (state, code, line, thresholds) in expected.items():
        pattern = re.escape(line).replace(re.escape(TIME), TIME_PATTERN)
        record, current = records[service], status[service]
        assert record["STATE"] == state, record
        assert re.fullmatch(pattern, record["OUTPUT"]), record
        assert current["current_state"] == code, current
        assert re.fullmatch(pattern, current["plugin_output"]), current
        for perfdata in (record["PERFDATA"], current["performance_data"]):
            items = parse_perfdata(perfdata)
            assert set(items) == {"banner", "connect", "dns", "helo", "time"}, perfdata
            assert f"time={items['time'].value}s;{thresholds};0;10" in perfdata


PASSWORD = "nagios-s3cret"
AUTH = """
define host {{
    use                     linux-server
    host_name               submission.test
    address                 127.0.0.1
    active_checks_enabled   0
}}
define service {{
    use                     smtp-helo-service
    host_name               submission.test
    service_description     submission
    check_command           check_smtp_helo!{options}
}}
"""


def test_nagios_reads_the_auth_password_from_a_file_only_nagios_can_read(nagios_factory):
    """README's way for Nagios: $USERn$ macros of resource.cfg end up in argv, a file does not."""
    secret = private_directory("nagios-secret") / "smtp-monitor.secret"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    shutil.chown(secret, "nagios", "nagios")
    try:
        with smtpd(
            authenticator=authenticator("monitor", PASSWORD), auth_require_tls=False
        ) as port:
            nagios = nagios_factory(
                files=["smtp_helo-commands.cfg", "smtp_helo-services.cfg"],
                extra=AUTH.format(
                    options=f"-p {port} --auth-user monitor --auth-password-file {secret} "
                    "--allow-plaintext-auth --rcpt-to postmaster@example.org"
                ),
            )
            records, _status = nagios.run_until_checked({"submission"})
    finally:
        shutil.rmtree(secret.parent)
    record = records["submission"]
    assert record["STATE"] == "OK", record
    assert record["OUTPUT"].endswith("auth: 235 2.7.0 Authentication successful, mail: 250 OK")
    assert set(parse_perfdata(record["PERFDATA"])) >= {"auth", "mail", "transaction"}


QUIET = """
define host {
    use                     linux-server
    host_name               quiet.test
    address                 127.0.0.1
    active_checks_enabled   0
}
define service {
    use                     smtp-helo-service
    host_name               quiet.test
    service_description     smtp-quiet
    active_checks_enabled   0
    check_command           check_smtp_helo!-p 1
}
"""


@pytest.mark.parametrize(
    ("left_out", "changed"),
    [
        (None, None),
        ("query_socket", "var_lib_nagios4/rw"),
        ("check_result_path", "var_lib_nagios4/spool/checkresults"),
    ],
    ids=["every path set", "query_socket left out", "check_result_path left out"],
)
def test_a_private_nagios_writes_to_system_paths_only_when_one_is_left_out(
    nagios_factory, left_out, changed
):
    """Nagios runs where stand-ins take the place of the system state directories: with
    every path setting in its own directory nothing there changes, and the snapshot that
    guards the session sees a setting left to its system default."""
    nagios = nagios_factory(files=["smtp_helo-commands.cfg", "smtp_helo-services.cfg"], extra=QUIET)
    if left_out:
        main = nagios.main.read_text()
        nagios.main.write_text(re.sub(rf"^{left_out}=.*\n", "", main, count=1, flags=re.M))
    with system_state_stand_ins() as (prefix, copies):
        before = snapshot(copies)
        nagios.run_until([*prefix, NAGIOS, str(nagios.main)], nagios.started)
        found = changes(before, snapshot(copies))
    if changed is None:
        assert found == []
    else:
        assert any(changed in line for line in found), found


DOMAIN = (
    HOST
    + """
define service {{
    use                     smtp-helo-service
    host_name               mail.test
    service_description     mail-domain-onedead.lab.example
    check_command           check_smtp_helo_domain!onedead.lab.example!{options}
}}
"""
)


def test_nagios_runs_a_mail_domain_check(nagios_factory, mail_lab):
    nagios = nagios_factory(
        files=["smtp_helo-commands.cfg", "smtp_helo-services.cfg"],
        extra=DOMAIN.format(options=f"--resolver {mail_lab.resolver} -p {mail_lab.port}"),
    )
    service = "mail-domain-onedead.lab.example"
    records, status = nagios.run_until_checked({service})
    line = (
        "SMTP WARNING - onedead.lab.example: 2 of 3 addresses OK, "
        "mx-dead.lab.example [127.0.0.9]: connection refused"
    )
    assert (records[service]["STATE"], records[service]["OUTPUT"]) == ("WARNING", line)
    assert (status[service]["current_state"], status[service]["plugin_output"]) == ("1", line)
    probes = {"time_mx1_lab_example_127_0_0_2", "time_mx1_lab_example___1"}
    labels = set(parse_perfdata(records[service]["PERFDATA"]))
    assert labels == {"addresses", "addresses_ok", "dns", "time", *probes}
