"""Icinga Web 2 as an Icinga 2 user opens it, private: the IDO database that Icinga 2 fills
(icinga2-ido-mysql) and Icinga Web 2's own database on a private MariaDB, Icinga Web 2 on
PHP's built-in server, and headless Chromium that opens its pages.

IDO rather than Icinga DB: the IDO is a feature library inside the Icinga 2 daemon that the
graph suites already run, so the only daemon added is MariaDB; Icinga DB needs Redis and the
icingadb daemon besides. Both feed the same service page and graphite module.

- `ido` (a fixture, made available to every test module by conftest.py): a private MariaDB
  with the two databases and their shipped schemas, and the Icinga 2 configuration that
  writes into the IDO (add it to a WriterIcinga's body).
- `IcingaWeb(database, graphite_url, template)` serves Icinga Web 2 to user admin, with the
  monitoring and graphite modules, and the graphite template file installed where README
  tells operators to put it; `browse(path, screenshot)` runs Chromium.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from graphstack import Daemon, Service
from helpers import unavailable
from mariadb import MariaDB

ICINGAWEB = Path("/usr/share/icingaweb2")
MODULES = ("monitoring", "graphite")
IDO_SCHEMA = Path("/usr/share/icinga2-ido-mysql/schema/mysql.sql")
WEB_SCHEMA = ICINGAWEB / "schema" / "mysql.schema.sql"
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "web-test-only"
IDO = """
library "db_ido_mysql"
object IdoMysqlConnection "ido" {{
  host = "127.0.0.1"
  port = {port}
  user = "ido"
  password = "{password}"
  database = "icinga_ido"
}}
"""
RESOURCE = """
[{name}]
type = "db"
db = "mysql"
host = "127.0.0.1"
port = "{port}"
dbname = "{name}"
username = "{user}"
password = "{password}"
charset = "{charset}"
"""


@dataclass
class Ido:
    database: MariaDB
    config: str  # Icinga 2's IdoMysqlConnection into it

    def checked(self) -> tuple[int, int]:
        """How many services and hosts have a check result in the IDO."""
        rows = self.database.sql(
            "SELECT COUNT(*) FROM icinga_servicestatus WHERE has_been_checked = 1 UNION ALL "
            "SELECT COUNT(*) FROM icinga_hoststatus WHERE has_been_checked = 1",
            "icinga_ido",
        ).stdout.split()
        return int(rows[0]), int(rows[1])


def ido_connection(database: MariaDB) -> str:
    """Creates the IDO database (icinga_ido, user ido) and Icinga Web 2's (icingaweb, user
    web) with the schemas the packages ship; returns the Icinga 2 configuration of the IDO."""
    missing = [
        path
        for path in (IDO_SCHEMA, WEB_SCHEMA, *(ICINGAWEB / "modules" / m for m in MODULES))
        if not path.exists()
    ]
    if missing or not shutil.which("php"):
        unavailable(
            "icinga2-ido-mysql, icingaweb2 or its modules are missing: apt-get install "
            "icinga2-ido-mysql icingaweb2 icingaweb2-module-monitoring icingaweb2-module-graphite"
        )
    for name, user, schema in (("icinga_ido", "ido", IDO_SCHEMA), ("icingaweb", "web", WEB_SCHEMA)):
        database.create_database(name, user, PASSWORD)
        database.sql(schema.read_text(), name)
    return IDO.format(port=database.port, password=PASSWORD)


class IcingaWeb(Service):
    """Icinga Web 2 on `url`, every request made as user admin (an `external` backend with
    REMOTE_USER set), reading the IDO and drawing graphs from graphite-web at graphite_url."""

    def __init__(self, database: MariaDB, graphite_url: str, template: Path) -> None:
        super().__init__("icingaweb2", "icingaweb2", str(ICINGAWEB / "public" / "index.php"))
        config = self.base / "config"
        files = {
            "config.ini": '[global]\nconfig_backend = "db"\nconfig_resource = "icingaweb"\n'
            f'[logging]\nlog = "file"\nfile = "{self.base}/icingaweb2.log"\nlevel = "WARNING"\n',
            "authentication.ini": '[autologin]\nbackend = "external"\n',
            "roles.ini": '[admins]\nusers = "admin"\npermissions = "*"\n',
            "resources.ini": "".join(
                RESOURCE.format(
                    name=name, user=user, charset=charset, port=database.port, password=PASSWORD
                )
                for name, user, charset in (
                    ("icingaweb", "web", "utf8mb4"),
                    ("icinga_ido", "ido", "latin1"),
                )
            ),
            "modules/monitoring/backends.ini": '[icinga]\ntype = "ido"\nresource = "icinga_ido"\n',
            "modules/graphite/config.ini": f'[graphite]\nurl = "{graphite_url}"\n',
        }
        for name, text in files.items():
            (config / name).parent.mkdir(parents=True, exist_ok=True)
            (config / name).write_text(text)
        (config / "modules" / "graphite" / "templates").mkdir()
        shutil.copy(template, config / "modules" / "graphite" / "templates")
        (config / "enabledModules").mkdir()
        for module in MODULES:
            (config / "enabledModules" / module).symlink_to(ICINGAWEB / "modules" / module)
        public = ICINGAWEB / "public"
        # sys_temp_dir: Icinga Web 2's file cache (FileCache_icingaweb) and PHP's sessions
        # are kept here, not in /tmp
        server = ["php", "-d", f"sys_temp_dir={self.base}", "-S", f"127.0.0.1:{self.port}"]
        self.daemon = Daemon(
            self.base,
            "php",
            [*server, "-t", str(public), str(public / "index.php")],
            {"ICINGAWEB_CONFIGDIR": str(config), "REMOTE_USER": "admin"},
        )
        try:
            self.daemon.wait_for_port(self.port)
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def service_page(host: str, service: str, graph_range: int) -> str:
        """The path of a service's detail view, graphs over the last graph_range seconds."""
        query = urllib.parse.urlencode(
            {"host": host, "service": service, "graph_range": graph_range}
        )
        return f"/monitoring/service/show?{query}"

    def get(self, path: str) -> tuple[str, bytes]:
        """The Content-Type and body of a page or image, fetched without a browser."""
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return response.headers["Content-Type"], response.read()

    def browse(self, path: str, screenshot: Path, size: tuple[int, int] = (1400, 1000)) -> str:
        """The DOM after the page's scripts ran, as headless Chromium saw it; its screenshot
        in `screenshot`."""
        if not Path(CHROMIUM).exists():
            unavailable("Debian's chromium is not installed: apt-get install chromium")
        profile = tempfile.mkdtemp(dir=self.base, prefix="chromium-")
        command = [
            CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=5000",
            f"--window-size={size[0]},{size[1]}", f"--screenshot={screenshot}", "--dump-dom",
            self.url + path,
        ]  # fmt: skip
        proc = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0 and screenshot.exists(), proc
        return proc.stdout


@pytest.fixture(scope="session")
def ido():
    database = MariaDB()
    try:
        database.start()
        yield Ido(database, ido_connection(database))
    finally:
        database.stop()
