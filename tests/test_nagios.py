"""Integration: the shipped Nagios configuration, validated and run by Debian's nagios4.

Nagios runs from a private directory in the foreground and drops root to user nagios. Its
base configuration stands in for a stock install (generic-host, generic-service, 24x7,
admins), on which the shipped template builds. What Nagios recorded is read from its service
perfdata file and status.dat.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from engines import PrivateEngine, broken_copy, records
from helpers import (
    ROOT,
    TIME,
    owned_by,
    parse_perfdata,
    private_directory,
    unavailable,
)
from servers import authenticator, smtpd

pytestmark = pytest.mark.integration

NAGIOS = "/usr/sbin/nagios4"
SHIPPED = ROOT / "icinga-config" / "nagios"
STOCK = """\
define timeperiod {
    timeperiod_name 24x7
    alias           24 Hours A Day, 7 Days A Week
    sunday          00:00-24:00
    monday          00:00-24:00
    tuesday         00:00-24:00
    wednesday       00:00-24:00
    thursday        00:00-24:00
    friday          00:00-24:00
    saturday        00:00-24:00
}
define command {
    command_name    notify-none
    command_line    /bin/true
}
define command {
    command_name    check-host-alive
    command_line    $USER1$/check_ping -H $HOSTADDRESS$ -w 3000.0,80% -c 5000.0,100% -p 5
}
define contact {
    contact_name                    nagiosadmin
    service_notification_period     24x7
    host_notification_period        24x7
    service_notification_options    w,u,c,r
    host_notification_options       d,u,r
    service_notification_commands   notify-none
    host_notification_commands      notify-none
}
define contactgroup {
    contactgroup_name   admins
    alias               Nagios Administrators
    members             nagiosadmin
}
define host {
    name                    generic-host
    check_command           check-host-alive
    max_check_attempts      10
    check_period            24x7
    notification_interval   0
    notification_period     24x7
    contact_groups          admins
    register                0
}
define service {
    name                    generic-service
    check_period            24x7
    max_check_attempts      3
    check_interval          10
    retry_interval          2
    notification_interval   0
    notification_period     24x7
    contact_groups          admins
    register                0
}
"""
RECORD = (
    "SERVICE::$SERVICEDESC$\\tSTATE::$SERVICESTATE$\\tOUTPUT::$SERVICEOUTPUT$"
    "\\tPERFDATA::$SERVICEPERFDATA$"
)
MAIN = """\
log_file={var}/nagios.log
cfg_file={etc}/stock.cfg
{cfg_files}
resource_file={etc}/resource.cfg
object_cache_file={var}/objects.cache
precached_object_file={var}/objects.precache
status_file={var}/status.dat
status_update_interval=1
nagios_user=nagios
nagios_group=nagios
check_external_commands=0
lock_file={var}/nagios.lock
temp_file={var}/nagios.tmp
temp_path={var}
check_result_path={var}/checkresults
state_retention_file={var}/retention.dat
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

    def __init__(self, plugins: Path, shipped: Path, files: list[str], extra: str = "") -> None:
        if not Path(NAGIOS).exists():
            unavailable("Debian's nagios4 is not installed (.ci/run installs it)")
        super().__init__("nagios")
        self.etc, self.var = self.base / "etc", self.base / "var"
        owned_by("nagios", self.var, self.var / "checkresults")
        self.etc.mkdir()
        (self.etc / "stock.cfg").write_text(STOCK)
        (self.etc / "resource.cfg").write_text(f"$USER1$={plugins}\n")
        cfg_files = [shipped / name for name in files]
        if extra:
            (self.etc / "test.cfg").write_text(extra)
            cfg_files.append(self.etc / "test.cfg")
        self.main = self.etc / "nagios.cfg"
        self.main.write_text(
            MAIN.format(
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
def nagios_factory(engine_plugins, made_engines):
    def make(shipped: Path = SHIPPED, files: list[str] = SHIPPED_FILES, extra: str = ""):
        made_engines.append(Nagios(engine_plugins, shipped, files, extra))
        return made_engines[-1]

    return make


def test_shipped_configuration_validates(nagios_factory):
    proc = nagios_factory().validate()
    assert proc.returncode == 0, proc.stdout
    assert "Checked 4 services." in proc.stdout
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


E2E = """
define host {{
    use                     generic-host
    host_name               mail.test
    address                 127.0.0.1
    active_checks_enabled   0
}}
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
        "smtp-ok": ("OK", "0", f"SMTP OK - 127.0.0.1:{ok_port} answered in {TIME}s{tail}", "1;2"),
        "smtp-slow": (
            "WARNING",
            "1",
            f"SMTP WARNING - 127.0.0.1:{slow_port} answered in {TIME}s: response time outside "
            f"warning range 0.2{tail}",
            "0.2;5",
        ),
    }
    for service, (state, code, line, thresholds) in expected.items():
        pattern = re.escape(line).replace(re.escape(TIME), r"\d+\.\d{3}")
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
    use                     generic-host
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
