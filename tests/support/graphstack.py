"""Private time-series daemons for the graph suites: carbon-cache, graphite-web, influxd, and
an Icinga 2 that writes its check results into them.

Each daemon runs from its own temp directory on free loopback ports and is stopped by PID.
The fixtures at the end (made available to every test module by conftest.py) start each one
once per session:

- `carbon`: a carbon-cache fed on `carbon.port`; `carbon.metrics()` lists the whisper paths,
  `carbon.fetch(path)` reads one the way whisper-fetch does.
- `graphite_web`: graphite-web on that whisper directory; `graphite_web.url` is its base URL,
  `graphite_web.render(target)` its JSON render API, `graphite_web.module_charts(...)` the
  PNGs that icingaweb2-module-graphite draws from a template file.
- `influxd`: an InfluxDB 1.x with the database `icinga2`; `influxd.query(q)` runs InfluxQL.
- `graph_postfix`: a private Debian Postfix as it comes, the port of its plain smtpd: the real,
  fast server whose graphs must be readable.
- `writer_icinga(body)` makes a `WriterIcinga`: a private Icinga 2 whose configuration already
  has the shipped CheckCommand, a GraphiteWriter and an InfluxdbWriter pointing at the daemons
  above; add the hosts and services in `body` and call `run_until(...)`.

Outside these fixtures each daemon is a context manager: `with Carbon() as carbon: ...`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import postfix
import pytest
import trustme
from helpers import private_directory, unavailable
from servers import free_port
from test_icinga import SHIPPED, Icinga

CARBON = "/usr/bin/carbon-cache"
DJANGO = "/usr/bin/django-admin"
GRAPHITE_WEB = "/usr/lib/python3/dist-packages/graphite"
INFLUXD = "/usr/bin/influxd"
INFLUX_DATABASE = "icinga2"
GRAPHITE_MODULE = "/usr/share/icingaweb2/modules/graphite"
MODULE_RENDERER = Path(__file__).with_name("graphite_module.php")
# Slots of 2 s for checks every 1 s: Icinga schedules the next check a full interval after
# the result arrived, so a slot as long as the interval would be left empty now and then.
RETENTION = "2s:1h"


def wait_until(done: Callable[[], object], timeout: float, what: str) -> None:
    """Poll done() every 0.2 s until it is true; fail the test with `what` after timeout."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


class Daemon:
    """A daemon in the foreground of its own session, its output in `log`. It gets SIGTERM
    when the test process ends, also when that is killed before its fixtures stop it."""

    def __init__(self, base: Path, name: str, command: list[str], env: dict | None = None):
        self.log = base / f"{name}.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                ["setpriv", "--pdeathsig", "TERM", "--", *command],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )

    def wait_for_port(self, port: int, timeout: float = 30) -> None:
        def up() -> bool:
            assert self.process.poll() is None, self.log.read_text()
            return listening(port)

        wait_until(up, timeout, f"{self.log.stem} on port {port}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL to this process only."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


ServiceT = TypeVar("ServiceT", bound="Service")


class Service:
    """A daemon from a Debian package, with its own directory `base` and a free loopback
    `port` to serve on; as a context manager, stopped and its directory removed at the end."""

    daemon: Daemon

    def __init__(self, name: str, package: str, *programs: str) -> None:
        if not all(Path(program).exists() for program in programs):
            unavailable(f"Debian's {package} is not installed: apt-get install {package}")
        self.base = private_directory(name)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.daemon.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self: ServiceT) -> ServiceT:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


class Carbon(Service):
    """carbon-cache writing whisper files below `whisper`, fed (plaintext protocol) on `port`."""

    def __init__(self) -> None:
        super().__init__("carbon", "graphite-carbon", CARBON)
        self.whisper = self.base / "whisper"
        pickle_port, query_port = free_port(), free_port()
        (self.base / "storage-schemas.conf").write_text(
            f"[everything]\npattern = .*\nretentions = {RETENTION}\n"
        )
        (self.base / "carbon.conf").write_text(
            f"""\
[cache]
STORAGE_DIR = {self.base}/
LOCAL_DATA_DIR = {self.whisper}/
CONF_DIR = {self.base}/
LOG_DIR = {self.base}/log/
PID_DIR = {self.base}/
USER =
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = inf
MAX_CREATES_PER_MINUTE = inf
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = {self.port}
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = {pickle_port}
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = {query_port}
LOG_LISTENER_CONN_SUCCESS = False
WHISPER_AUTOFLUSH = True
"""
        )
        self.daemon = Daemon(
            self.base,
            "carbon-cache",
            [
                CARBON,
                f"--config={self.base / 'carbon.conf'}",
                f"--pidfile={self.base / 'carbon-cache.pid'}",
                f"--logdir={self.base / 'log'}",
                "--nodaemon",
                "start",
            ],
        )
        self.daemon.wait_for_port(self.port)

    def metrics(self) -> set[str]:
        """Every metric path that has a whisper file."""
        return {
            ".".join(path.relative_to(self.whisper).with_suffix("").parts)
            for path in self.whisper.rglob("*.wsp")
        }

    def fetch(self, metric: str, seconds: int = 3600) -> list[tuple[int, float | None]]:
        """(timestamp, value) of every slot in the last `seconds`, as whisper-fetch prints."""
        path = self.whisper.joinpath(*metric.split(".")).with_suffix(".wsp")
        proc = subprocess.run(
            ["whisper-fetch", f"--from={int(time.time()) - seconds}", str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        points = (line.split() for line in proc.stdout.splitlines())
        return [(int(t), None if v == "None" else float(v)) for t, v in points]


class GraphiteWeb(Service):
    """graphite-web's Django application on `url`, reading carbon's whisper files only (no
    carbonlink, so what it serves is what is on disk)."""

    def __init__(self, carbon: Carbon) -> None:
        super().__init__("graphite-web", "graphite-web", DJANGO, GRAPHITE_WEB)
        (self.base / "graphstack_settings.py").write_text(
            f"""\
SECRET_KEY = "graph-test-only"
ALLOWED_HOSTS = ["127.0.0.1"]
STORAGE_DIR = "{self.base}"
WHISPER_DIR = "{carbon.whisper}/"
STANDARD_DIRS = ["{carbon.whisper}/"]
LOG_DIR = "{self.base}/log"
INDEX_FILE = "{self.base}/index"
CARBONLINK_HOSTS = []
DEFAULT_CACHE_DURATION = 0
TIME_ZONE = "UTC"
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3",
                          "NAME": "{self.base}/graphite.db"}}}}
"""
        )
        (self.base / "log").mkdir()
        env = {
            "PYTHONPATH": str(self.base),
            "DJANGO_SETTINGS_MODULE": "graphite.settings",
            "GRAPHITE_SETTINGS_MODULE": "graphstack_settings",
        }
        subprocess.run(
            [DJANGO, "migrate", "--verbosity=0"],
            env={**os.environ, **env},
            capture_output=True,
            check=True,
        )
        self.daemon = Daemon(
            self.base,
            "graphite-web",
            [DJANGO, "runserver", f"127.0.0.1:{self.port}", "--noreload"],
            env,
        )
        self.daemon.wait_for_port(self.port)

    def get(self, path: str, **params: str | list[str]) -> bytes:
        query = urllib.parse.urlencode(params, doseq=True)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=30) as response:
            return response.read()

    def render(self, target: str, seconds: int = 3600) -> list[dict]:
        """The render API's JSON: [{"target": ..., "datapoints": [[value, t], ...]}]."""
        data = self.get("/render", target=target, format="json", **{"from": f"-{seconds}s"})
        return json.loads(data)

    def module_charts(
        self,
        template: Path,
        host: str,
        service: str,
        *,
        command: str = "smtp_helo",
        seconds: int = 3600,
        size: tuple[int, int] = (800, 300),
        legend: bool = False,
    ) -> list[dict]:
        """The charts icingaweb2-module-graphite's own code draws for a service from a
        template file: [{"template", "metrics": {curve: path}, "png": path}], PNGs kept
        in this daemon's directory."""
        if not Path(GRAPHITE_MODULE).exists() or not shutil.which("php"):
            unavailable(
                "icingaweb2-module-graphite or php-cli is missing: "
                "apt-get install icingaweb2-module-graphite php-cli php-curl"
            )
        config = self.base / "icingaweb2"
        if not config.exists():
            (config / "enabledModules").mkdir(parents=True)
            (config / "enabledModules" / "graphite").symlink_to(GRAPHITE_MODULE)
        output = Path(tempfile.mkdtemp(dir=self.base, prefix="charts-"))
        arguments = [template, self.url, output, host, service, command, seconds, *size]
        php = ["php", "-d", f"sys_temp_dir={self.base}"]  # Icinga Web 2's caches: not /tmp
        proc = subprocess.run(
            [*php, MODULE_RENDERER, *map(str, arguments), "1" if legend else "0"],
            env={**os.environ, "ICINGAWEB_CONFIGDIR": str(config)},
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return json.loads(proc.stdout)


class Influxd(Service):
    """InfluxDB 1.x with an empty database `icinga2`, HTTP API on `url`."""

    def __init__(self) -> None:
        super().__init__("influxd", "influxdb", INFLUXD)
        (self.base / "influxdb.conf").write_text(
            f"""\
reporting-disabled = true
bind-address = "127.0.0.1:{free_port()}"
[meta]
  dir = "{self.base}/meta"
[data]
  dir = "{self.base}/data"
  wal-dir = "{self.base}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
  pprof-enabled = false
[logging]
  level = "warn"
"""
        )
        self.daemon = Daemon(
            self.base, "influxd", [INFLUXD, "run", "-config", str(self.base / "influxdb.conf")]
        )
        self.daemon.wait_for_port(self.port)
        self.query(f'CREATE DATABASE "{INFLUX_DATABASE}"', method="POST")

    def query(self, q: str, method: str = "GET") -> list[dict]:
        """The results of one InfluxQL statement: [{"series": [...]}] or [{}] when empty."""
        params = urllib.parse.urlencode({"q": q, "db": INFLUX_DATABASE, "epoch": "s"})
        if method == "GET":
            request = urllib.request.Request(f"{self.url}/query?{params}")
        else:
            request = urllib.request.Request(f"{self.url}/query", params.encode(), method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            results = json.loads(response.read())["results"]
        for result in results:
            assert "error" not in result, (q, result)
        return results


GRAPHITE_WRITER = """
object CheckerComponent "checker" {{}}
object GraphiteWriter "graphite" {{
  host = "127.0.0.1"
  port = {carbon_port}
  enable_send_thresholds = true
}}
"""
INFLUXDB_WRITER = """
object InfluxdbWriter "influxdb" {{
  host = "127.0.0.1"
  port = {influx_port}
  database = "{database}"
  flush_interval = 1s
  flush_threshold = 1
  enable_send_thresholds = true
}}
"""


# The shipped CheckCommand alone: the example hosts' services would write metrics too.
COMMAND_ONLY = {"global-templates": ["smtp_helo-command.conf"]}


class WriterIcinga(Icinga):
    """A private Icinga 2 (every path in its own directory, see engines.icinga_daemon) with
    the shipped CheckCommand, a checker, a GraphiteWriter and, given an influxd, an
    InfluxdbWriter."""

    def __init__(
        self, plugins: Path, stock: Path, carbon: Carbon, influxd: Influxd | None, body: str
    ) -> None:
        writers = GRAPHITE_WRITER.format(carbon_port=carbon.port)
        if influxd is not None:
            writers += INFLUXDB_WRITER.format(influx_port=influxd.port, database=INFLUX_DATABASE)
        super().__init__(plugins, stock, writers + body, SHIPPED, COMMAND_ONLY)


@pytest.fixture(scope="session")
def carbon():
    with Carbon() as daemon:
        yield daemon


@pytest.fixture(scope="session")
def graphite_web(carbon):
    with GraphiteWeb(carbon) as daemon:
        yield daemon


@pytest.fixture(scope="session")
def influxd():
    with Influxd() as daemon:
        yield daemon


@pytest.fixture(scope="session")
def graph_postfix():
    reason = postfix.missing()
    if reason:
        unavailable(reason)
    directory = private_directory("postfix")  # Postfix's daemons run as postfix and enter it
    leaf = trustme.CA().issue_cert("localhost", "127.0.0.1")
    server = postfix.Postfix(directory, leaf.private_key_and_cert_chain_pem.bytes().decode())
    try:
        server.start()
        yield server.plain
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def writer_icinga(engine_plugins, stock, carbon, influxd):
    """Makes WriterIcinga engines; their directories are removed at the end of the session."""
    made: list[WriterIcinga] = []

    def make(body: str) -> WriterIcinga:
        made.append(WriterIcinga(engine_plugins, stock, carbon, influxd, body))
        return made[-1]

    yield make
    for engine in made:
        engine.remove()
