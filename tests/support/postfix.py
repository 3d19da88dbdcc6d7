"""A private Postfix instance on loopback: its own configuration, queue and log, high ports.

Debian's postfix package, installed with "No configuration", provides the binaries; this
starts `postfix -c DIR start` without systemd and stops it again by its master's PID.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from servers import free_port, stop_by_pid, wait_for_port

POSTFIX = "/usr/sbin/postfix"
MASTER_CF = Path("/usr/share/postfix/master.cf.dist")


def missing() -> str | None:
    """Why a private Postfix cannot run here, or None when it can."""
    if not Path(POSTFIX).exists() or not MASTER_CF.exists():
        return "Debian's postfix package is not installed: apt-get install postfix"
    if os.geteuid() != 0:
        return "starting a private Postfix needs root: sudo make test"
    return None


class Postfix:
    """Postfix listening on 127.0.0.1: `plain` (STARTTLS offered), `smtps` (wrapper mode), and
    a port in `ports` for each of `services`, smtpd with those -o settings. certificate_pem is
    a private key with its chain, or a list of them (one per key type)."""

    def __init__(
        self,
        directory: Path,
        certificate_pem: str | list[str],
        services: dict[str, dict[str, str]] | None = None,
        **settings: str,
    ) -> None:
        self.directory = directory
        self.conf = directory / "conf"
        self.plain = free_port()
        self.smtps = free_port()
        self.ports = {name: free_port() for name in services or {}}
        for sub in ("conf", "queue", "data"):
            (directory / sub).mkdir(parents=True, exist_ok=True)
        shutil.chown(directory / "data", "postfix")
        # smtpd_tls_chain_files: a file per key and its chain (RSA, ECDSA: Postfix serves each
        # client the one it can use)
        chains = [certificate_pem] if isinstance(certificate_pem, str) else certificate_pem
        files = [self.conf / f"server-{index}.pem" for index in range(len(chains))]
        for path, pem in zip(files, chains):
            path.write_text(pem)
            path.chmod(0o640)
            shutil.chown(path, group="postfix")
        main = {
            "compatibility_level": "3.6",
            "queue_directory": f"{directory}/queue",
            "data_directory": f"{directory}/data",
            "maillog_file_prefixes": str(directory),
            "maillog_file": f"{directory}/postfix.log",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "mx.postfix.test",
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "smtpd_banner": "$myhostname ESMTP Postfix",
            "smtpd_tls_chain_files": ", ".join(map(str, files)),
            "smtpd_tls_security_level": "may",
            **settings,
        }
        (self.conf / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in main.items()))
        lines = [
            line
            for line in MASTER_CF.read_text().splitlines()
            if not line.startswith("smtp      inet")
        ]
        lines += [
            f"127.0.0.1:{self.plain} inet n - n - - smtpd",
            f"127.0.0.1:{self.smtps} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes",
        ]
        for name, overrides in (services or {}).items():
            options = "".join(f" -o {key}={value}" for key, value in overrides.items())
            lines.append(f"127.0.0.1:{self.ports[name]} inet n - n - - smtpd{options}")
        (self.conf / "master.cf").write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        proc = subprocess.run(
            [POSTFIX, "-c", str(self.conf), "start"], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"postfix start failed: {proc.stderr}\n{self.log()}")
        for port in (self.plain, self.smtps, *self.ports.values()):
            wait_for_port(port, self.log)

    def stop(self) -> None:
        """Stop gracefully; then make sure the master is gone, by its PID."""
        subprocess.run([POSTFIX, "-c", str(self.conf), "stop"], capture_output=True, check=False)
        stop_by_pid(self.directory / "queue" / "pid" / "master.pid", signum=None)

    def log(self) -> str:
        path = self.directory / "postfix.log"
        return path.read_text() if path.exists() else "(no log)"
