"""Integration: a master and an agent, two private Icinga 2 daemons on loopback, run the
shipped distributed configuration.

The master has the shipped command and service template in its global zone and the shipped
distributed example in its own zone, changed only where a user changes it (names, addresses,
ports). The agent is set up as its node wizard sets it up, with the plugin in its PluginDir
and no copy of the configuration: the command reaches it by config sync. The master has no
plugin. Checks are forced through the master's REST API, which also reports what the agent
sent back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cluster import Api, CertificateAuthority, Node, wait_for
from engines import ICINGA, broken_copy
from helpers import ROOT, TIME, TIME_PATTERN, parse_perfdata, unavailable
from servers import smtpd

pytestmark = pytest.mark.integration

SHIPPED = ROOT / "icinga-config" / "icinga2"
MASTER, AGENT = "master.test", "dmz-agent.test"
USER, PASSWORD = "root", "cluster-test"
SMTP_SERVICE, HEALTH_SERVICE = "smtp-dmz-relay", "smtp-helo-agent"
GLOBAL_FILES = ["smtp_helo-command.conf", "smtp_helo-services.conf"]
EXAMPLE = "smtp_helo-distributed-example.conf"

COMMON = """\
include <itl>
include <plugins>
const PluginDir = "{plugins}"
const NodeName = "{name}"
"""
# The master as its node wizard sets it up, with an ApiUser and the checker.
MASTER_CONFIG = (
    COMMON
    + """\
const ZoneName = "master"
object Endpoint NodeName {{}}
object Zone ZoneName {{ endpoints = [ NodeName ] }}
object Zone "global-templates" {{ global = true }}
object ApiListener "api" {{
  bind_host = "127.0.0.1"
  bind_port = {port}
}}
object ApiUser "{user}" {{
  password = "{password}"
  permissions = [ "*" ]
}}
object CheckerComponent "checker" {{}}
"""
)
# The agent as its node wizard sets it up (constants.conf, zones.conf, api.conf), and an
# ApiUser that lets the test see when the synced configuration is running.
AGENT_CONFIG = (
    COMMON
    + """\
const ZoneName = NodeName
object Endpoint "{master}" {{
{master_address}}}
object Zone "master" {{ endpoints = [ "{master}" ] }}
object Endpoint NodeName {{}}
object Zone ZoneName {{
  endpoints = [ NodeName ]
  parent = "master"
}}
object Zone "global-templates" {{ global = true }}
object Zone "director-global" {{ global = true }}
object ApiListener "api" {{
  bind_host = "127.0.0.1"
  bind_port = {port}
  accept_config = true
  accept_commands = true
}}
object ApiUser "{user}" {{
  password = "{password}"
  permissions = [ "objects/query/CheckCommand" ]
}}
"""
)


def adapted_example(shipped: Path, connects: str, agent_port: int, smtp_port: int) -> str:
    """The distributed example with this test's names, addresses and ports, as a user
    adapts it; when the master connects, the agent's host and port are uncommented."""
    text = (shipped / EXAMPLE).read_text()
    changes = [
        ("dmz-agent.example.com", AGENT),
        ('address = "192.0.2.40"', 'address = "127.0.0.1"'),
        (
            'smtp_helo_address = "relay.dmz.example.com"',
            f'smtp_helo_address = "127.0.0.1"\n    smtp_helo_port = {smtp_port}',
        ),
    ]
    if connects == "master":
        changes += [
            ('// host = "192.0.2.40"', 'host = "127.0.0.1"'),
            ("// port = 5665", f"port = {agent_port}"),
        ]
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new)
    return text


def service_filter(services: set[str]) -> str:
    return f"host.name == {json.dumps(AGENT)} && service.name in {json.dumps(sorted(services))}"


class Cluster:
    """A master and an agent made from the shipped files and the node wizard's layout."""

    def __init__(
        self,
        ca: CertificateAuthority,
        agent_plugins: Path | None,
        smtp_port: int,
        connects: str = "agent",
        shipped: Path = SHIPPED,
    ) -> None:
        """agent_plugins None: an agent without the plugin (an empty PluginDir)."""
        self.master, self.agent = Node(MASTER, ca), Node(AGENT, ca)
        self.connects = connects
        self.agent_plugins = agent_plugins or self.agent.plugins
        (self.master.zones / "global-templates").mkdir()
        for name in GLOBAL_FILES:
            shutil.copy(shipped / name, self.master.zones / "global-templates" / name)
        (self.master.zones / "master").mkdir()
        example = adapted_example(shipped, connects, self.agent.port, smtp_port)
        (self.master.zones / "master" / EXAMPLE).write_text(example)
        common = {"user": USER, "password": PASSWORD}
        self.master.configure(
            MASTER_CONFIG.format(
                plugins=self.master.plugins, name=MASTER, port=self.master.port, **common
            )
        )
        master_address = f'  host = "127.0.0.1"\n  port = "{self.master.port}"\n'
        self.agent.configure(
            AGENT_CONFIG.format(
                plugins=self.agent_plugins,
                name=AGENT,
                port=self.agent.port,
                master=MASTER,
                master_address=master_address if connects == "agent" else "",
                **common,
            )
        )
        self.api = Api(self.master.port, ca.certificate, USER, PASSWORD)
        self.agent_api = Api(self.agent.port, ca.certificate, USER, PASSWORD)

    def alive(self) -> None:
        self.master.assert_running()
        self.agent.assert_running()

    def start(self) -> None:
        """Start the side that is connected to first: the other then connects at once, not
        after its reconnect interval of 10 s."""
        listening = [(self.master, self.api), (self.agent, self.agent_api)]
        if self.connects == "master":
            listening.reverse()
        for node, api in listening:
            node.start()
            wait_for(f"the API of {node.name}", api.listening, node.assert_running)

    def synced_command(self) -> dict:
        """Wait until the agent runs the configuration synced from the master, with the
        CheckCommand in it; return the command's attributes."""

        def command() -> dict | None:
            try:
                status, body = self.agent_api.request("GET", "/v1/objects/checkcommands/smtp_helo")
            except OSError:
                return None
            return body["results"][0]["attrs"] if status == 200 else None

        return wait_for("the synced CheckCommand on the agent", command, self.alive)

    def check_now(
        self, services: set[str], alive: Callable[[], None] | None = None
    ) -> dict[str, dict]:
        """Force the services' checks (again every 3 s: a check forced while the agent
        reconnects is lost) until each has a result that started now; return the results."""
        since, forced = time.time(), 0.0
        query = {"type": "Service", "filter": service_filter(services)}

        def results() -> dict[str, dict] | None:
            nonlocal forced
            if time.monotonic() - forced > 3:
                status, body = self.api.request(
                    "POST", "/v1/actions/reschedule-check", {**query, "force": True}
                )
                assert status == 200, body
                forced = time.monotonic()
            status, body = self.api.request(
                "QUERY", "/v1/objects/services", {**query, "attrs": ["name", "last_check_result"]}
            )
            assert status == 200, body
            found = {
                item["attrs"]["name"]: item["attrs"]["last_check_result"]
                for item in body["results"]
                if (item["attrs"]["last_check_result"] or {}).get("execution_start", 0) >= since
            }
            return found if set(found) == services else None

        return wait_for(f"results of {sorted(services)}", results, alive or self.alive)

    def endpoint(self) -> dict:
        status, body = self.api.request("GET", f"/v1/objects/endpoints/{AGENT}")
        assert status == 200, body
        return body["results"][0]["attrs"]

    def stop(self) -> None:
        self.agent.stop()
        self.master.stop()


@pytest.fixture(scope="module")
def ca(system_state_untouched):
    if not Path(ICINGA).exists():
        unavailable("Debian's icinga2 is not installed: apt-get install icinga2-bin")
    if os.geteuid() != 0:
        unavailable("private Icinga 2 daemons that run as nagios need root: sudo make test")
    authority = CertificateAuthority()
    yield authority
    authority.remove()


@pytest.fixture
def clusters(ca, made_engines):
    """Make clusters; afterwards stop their daemons by PID and remove their directories."""
    made: list[Cluster] = []

    def make(*args, **kwargs) -> Cluster:
        made.append(Cluster(ca, *args, **kwargs))
        made_engines.extend([made[-1].master, made[-1].agent])
        return made[-1]

    yield make
    for cluster in made:
        cluster.stop()


def assert_agent_ran_the_check(result: dict, plugins: Path, smtp_port: int) -> None:
    """The agent ran the plugin from its PluginDir: OK, the full output, all perfdata."""
    assert result["check_source"] == AGENT, result
    assert result["command"] == [
        f"{plugins}/check_smtp_helo",
        *("-H", "127.0.0.1", "-c", "3", "-p", str(smtp_port), "-w", "1"),
    ], result
    assert (result["state"], result["exit_status"]) == (0, 0), result
    pattern = re.escape(
        f"SMTP OK - 127.0.0.1:{smtp_port} answered in {TIME}, "
        "banner: 220 mx.test ESMTP aiosmtpd, helo: 250 mx.test"
    ).replace(re.escape(TIME), TIME_PATTERN)
    assert re.fullmatch(pattern, result["output"].strip()), result
    perfdata = parse_perfdata(" ".join(result["performance_data"]))
    assert set(perfdata) == {"banner", "connect", "dns", "helo", "time"}, result
    time_item = perfdata["time"]
    assert (time_item.warn, time_item.crit, time_item.min, time_item.max) == ("1", "3", "0", "10")


@pytest.mark.parametrize("connects", ["agent", "master"], ids=["agent connects", "master connects"])
def test_the_agent_runs_the_synced_command_and_the_master_sees_it_leave(
    clusters, engine_plugins, connects
):
    with smtpd(ident="ESMTP aiosmtpd") as smtp_port:
        cluster = clusters(engine_plugins, smtp_port, connects)
        cluster.start()
        command = cluster.synced_command()
        results = cluster.check_now({SMTP_SERVICE, HEALTH_SERVICE})
        assert cluster.master.users() == cluster.agent.users() == {"nagios"}

    synced = cluster.agent.data / "api" / "zones" / "global-templates" / "_etc"
    assert (command["zone"], command["source_location"]["path"]) == (
        "global-templates",
        str(synced / "smtp_helo-command.conf"),
    )
    for name in GLOBAL_FILES:
        assert (synced / name).read_text() == (SHIPPED / name).read_text()
    assert not list(cluster.agent.etc.rglob("smtp_helo-*"))  # only the synced copy
    assert_agent_ran_the_check(results[SMTP_SERVICE], engine_plugins, smtp_port)
    health = results[HEALTH_SERVICE]
    assert (health["state"], health["check_source"]) == (0, MASTER), health
    assert health["output"].startswith(f"Zone '{AGENT}' is connected."), health

    cluster.agent.stop()
    wait_for(
        "the master to see the agent leave",
        lambda: not cluster.endpoint()["connected"],
        cluster.master.assert_running,
    )
    health = cluster.check_now({HEALTH_SERVICE}, cluster.master.assert_running)[HEALTH_SERVICE]
    assert (health["state"], health["check_source"]) == (2, MASTER), health
    assert health["output"].startswith(f"Zone '{AGENT}' is not connected."), health


def with_broken_command(clusters: Callable[..., Cluster], old: str, new: str, *args) -> Cluster:
    """A cluster whose master has the shipped files with one change in the command."""
    broken = broken_copy(SHIPPED, "smtp_helo-command.conf", old, new)
    try:
        return clusters(*args, shipped=broken)
    finally:
        shutil.rmtree(broken.parent)


def assert_agent_could_not_run_the_check(cluster: Cluster, smtp_port: int, output: str) -> None:
    """What the test above asserts fails: the agent reports UNKNOWN, with output."""
    cluster.start()
    cluster.synced_command()
    result = cluster.check_now({SMTP_SERVICE})[SMTP_SERVICE]
    with pytest.raises(AssertionError):
        assert_agent_ran_the_check(result, cluster.agent_plugins, smtp_port)
    assert (result["state"], result["check_source"]) == (3, AGENT), result
    assert result["output"].startswith(output), result


def test_a_master_with_a_broken_command_does_not_start(clusters):
    old, new = 'import "ipv4-or-ipv6"', 'import "ipv4-or-ipv8"'
    cluster = with_broken_command(clusters, old, new, None, 25)
    with pytest.raises(AssertionError, match="Import references unknown template: 'ipv4-or-ipv8'"):
        cluster.start()


def test_a_broken_command_fails_on_the_agent(clusters, engine_plugins):
    with smtpd(ident="ESMTP aiosmtpd") as smtp_port:
        old, new = "$smtp_helo_address$", "$smtp_helo_adress$"
        cluster = with_broken_command(clusters, old, new, engine_plugins, smtp_port)
        assert_agent_could_not_run_the_check(
            cluster,
            smtp_port,
            "Error: Non-optional macro 'smtp_helo_adress' used in argument '-H' is missing.",
        )


def test_an_agent_without_the_plugin_reports_unknown(clusters):
    with smtpd(ident="ESMTP aiosmtpd") as smtp_port:
        cluster = clusters(None, smtp_port)
        missing = cluster.agent_plugins / "check_smtp_helo"
        assert_agent_could_not_run_the_check(
            cluster, smtp_port, f"execvpe({missing}) failed: No such file or directory"
        )
