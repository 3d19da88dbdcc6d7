"""Integration: the shipped Icinga Director basket, restored, dumped and rendered by Debian's
icingaweb2-module-director on a private MariaDB, and the rendered configuration run by Icinga 2.

Director keeps everything in its database: icingacli reads the database resource from a
private Icinga Web 2 configuration directory (ICINGAWEB_CONFIGDIR) made here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, private_directory, unavailable
from mariadb import MariaDB
from servers import smtpd
from test_icinga import Icinga, perfdata_writer

pytestmark = pytest.mark.integration

ICINGACLI = "/usr/bin/icingacli"
DIRECTOR = Path("/usr/share/icingaweb2/modules/director")
BASKET = ROOT / "icinga-config" / "director" / "smtp_helo-basket.json"
GENERATOR = ROOT / "tools" / "director_basket.py"


class Director:
    """icingacli director against a database on a private MariaDB."""

    def __init__(self, database: MariaDB) -> None:
        self.config = private_directory("icingaweb")
        database.create_database("director", "director", "director-secret")
        (self.config / "resources.ini").write_text(
            '[director_db]\ntype = "db"\ndb = "mysql"\nhost = "127.0.0.1"\n'
            f'port = "{database.port}"\ndbname = "director"\nusername = "director"\n'
            'password = "director-secret"\ncharset = "utf8mb4"\n'
        )
        (self.config / "config.ini").write_text('[logging]\nlog = "none"\n')
        (self.config / "modules" / "director").mkdir(parents=True)
        (self.config / "modules" / "director" / "config.ini").write_text(
            '[db]\nresource = "director_db"\n'
        )
        (self.config / "enabledModules").mkdir()
        for module in ("director", "incubator"):
            (self.config / "enabledModules" / module).symlink_to(DIRECTOR.parent / module)
        self.database = database

    def run(self, *args: str, stdin: str | None = None) -> str:
        proc = subprocess.run(
            [ICINGACLI, "director", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**os.environ, "ICINGAWEB_CONFIGDIR": str(self.config)},
            check=False,
        )
        assert proc.returncode == 0, proc
        return proc.stdout

    def count(self, table: str) -> int:
        return int(self.database.sql(f"SELECT COUNT(*) FROM {table}", "director").stdout)

    def render(self) -> dict[str, str]:
        """`config render`, and the files of the configuration it stored."""
        checksum = self.run("config", "render").split("checksum ")[1].split()[0]
        rows = self.database.sql(
            "SELECT f.file_path, HEX(c.content) FROM director_generated_config_file f "
            "JOIN director_generated_file c ON c.checksum = f.file_checksum "
            f"WHERE f.config_checksum = UNHEX('{checksum}')",
            "director",
        ).stdout
        return {
            path: bytes.fromhex(content).decode()
            for path, content in (row.split("\t") for row in rows.splitlines())
        }


@pytest.fixture(scope="module")
def director():
    if not (Path(ICINGACLI).exists() and DIRECTOR.is_dir()):
        unavailable(
            "icingacli and icingaweb2-module-director are not installed: "
            "apt-get install icingacli icingaweb2-module-director php-mysql"
        )
    database = MariaDB()
    director = None
    try:
        database.start()
        director = Director(database)
        director.run("migration", "run")
        yield director
    finally:
        database.stop()
        if director is not None:
            shutil.rmtree(director.config, ignore_errors=True)


def test_the_shipped_basket_is_built_from_the_check_command():
    built = subprocess.run(
        [sys.executable, str(GENERATOR)], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(built) == json.loads(BASKET.read_text()), "run make basket"


def normalized(basket: dict) -> dict:
    """A basket with its data fields named by variable, not by database id."""
    fields = {number: field["varname"] for number, field in basket["Datafield"].items()}
    command = dict(basket["Command"]["smtp_helo"])
    command["fields"] = sorted(fields[str(item["datafield_id"])] for item in command["fields"])
    return {
        "Command": command,
        "Datafield": {
            field["varname"]: {k: v for k, v in field.items() if k != "originalId"}
            for field in basket["Datafield"].values()
        },
        "ServiceTemplate": basket["ServiceTemplate"],
    }


def test_restore_twice_then_dump_gives_the_basket_back(director):
    shipped = json.loads(BASKET.read_text())
    for _ in range(2):
        assert "restored" in director.run("basket", "restore", stdin=BASKET.read_text())
    variables = len(shipped["Datafield"])
    assert variables == len(shipped["Command"]["smtp_helo"]["arguments"])
    assert director.count("director_datafield") == variables  # no duplicates
    assert director.count("icinga_command_field") == variables
    assert director.count("icinga_command") == 1
    assert director.count("icinga_service") == 1
    dump = json.loads(director.run("basket", "dump", "--name", "smtp_helo"))
    assert normalized(dump) == normalized(shipped)


def test_the_rendered_configuration_runs_the_check_on_ipv4_and_ipv6_hosts(
    director, engine_plugins, stock
):
    director.run("basket", "restore", stdin=BASKET.read_text())
    files = director.render()
    assert "zones.d/director-global/commands.conf" in files
    assert "ipv4-or-ipv6" not in files["zones.d/director-global/commands.conf"]
    icinga = Icinga(engine_plugins, stock, layout={})
    for path, text in files.items():
        target = icinga.etc / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    try:
        with smtpd() as v4_port, smtpd(host="::1") as v6_port:
            hosts = f"""
object Zone "director-global" {{ global = true }}
object Host "v4.test" {{
  check_command = "dummy"
  enable_active_checks = false
  address = "127.0.0.1"
}}
object Host "v6.test" {{
  check_command = "dummy"
  enable_active_checks = false
  address6 = "::1"
}}
object Service "smtp-v4" {{
  import "smtp_helo"
  host_name = "v4.test"
  check_interval = 1s
  vars.smtp_helo_port = {v4_port}
}}
object Service "smtp-v6" {{
  import "smtp_helo"
  host_name = "v6.test"
  check_interval = 1s
  vars.smtp_helo_port = {v6_port}
}}
"""
            icinga.append(perfdata_writer(icinga.perfdata) + hosts)
            proc = icinga.validate()
            assert proc.returncode == 0, proc.stdout
            records = icinga.run_until_checked({"smtp-v4", "smtp-v6"})
    finally:
        icinga.remove()
    for service, address in (("smtp-v4", f"127.0.0.1:{v4_port}"), ("smtp-v6", f"[::1]:{v6_port}")):
        assert records[service]["STATE"] == "OK", records[service]
        assert records[service]["OUTPUT"].startswith(f"SMTP OK - {address} answered in "), records
