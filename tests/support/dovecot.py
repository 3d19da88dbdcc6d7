"""A private Dovecot on loopback: SASL for Postfix and LMTP for the -L tests.

Debian's dovecot-core and dovecot-lmtpd provide the binaries; `dovecot -c CONF` runs with its
base, state and log in a temporary directory. The master daemonizes: its stdio goes nowhere and
it is stopped by the PID in its master.pid.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path

from servers import free_port, stop_by_pid, wait_for_port

DOVECOT = "/usr/sbin/dovecot"
LMTP = "/usr/lib/dovecot/lmtp"
HOSTNAME = "lmtp.dovecot.test"

CONF = """\
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
protocols = lmtp
listen = 127.0.0.1
hostname = {hostname}
ssl = no
# Postfix asks over loopback; whether the client used TLS is Postfix's to enforce
disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5 scram-sha-256
auth_failure_delay = 0
default_internal_user = dovecot
default_login_user = dovenull
mail_location = maildir:{dir}/mail/%n
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {dir}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%n {dir}/passwd
}}
service auth {{
  inet_listener {{
    address = 127.0.0.1
    port = {auth}
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
"""


def missing() -> str | None:
    """Why a private Dovecot cannot run here, or None when it can."""
    if not (Path(DOVECOT).exists() and Path(LMTP).exists()):
        return (
            "Debian's dovecot-core and dovecot-lmtpd are not installed: "
            "apt-get install dovecot-core dovecot-lmtpd"
        )
    if os.geteuid() != 0:
        return "starting a private Dovecot needs root: sudo make test"
    return None


class Dovecot:
    """Dovecot with one SASL account, an auth listener for Postfix and an LMTP listener."""

    def __init__(self, directory: Path, users: dict[str, str]) -> None:
        self.directory = directory
        self.auth = free_port()
        self.lmtp = free_port()
        owner = pwd.getpwnam("dovecot")
        (directory / "passwd").write_text(
            "".join(
                f"{user}:{{PLAIN}}{secret}:{owner.pw_uid}:{owner.pw_gid}::{directory}/home/{user}::\n"
                for user, secret in users.items()
            )
        )
        self.conf = directory / "dovecot.conf"
        self.conf.write_text(
            CONF.format(dir=directory, hostname=HOSTNAME, auth=self.auth, lmtp=self.lmtp)
        )

    def start(self) -> None:
        # the daemon keeps the stdio it was given: a pipe here would never reach its end
        with (self.directory / "start.log").open("w") as output:
            proc = subprocess.run(
                [DOVECOT, "-c", str(self.conf)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                check=False,
            )
        if proc.returncode != 0:
            raise RuntimeError(f"dovecot failed to start:\n{self.log()}")
        for port in (self.auth, self.lmtp):
            wait_for_port(port, self.log)

    def stop(self) -> None:
        stop_by_pid(self.directory / "run" / "master.pid")

    def log(self) -> str:
        paths = [self.directory / name for name in ("start.log", "dovecot.log")]
        return "".join(path.read_text() for path in paths if path.exists()) or "(no log)"
