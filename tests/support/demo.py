"""make demo: run check_smtp_helo against a local aiosmtpd and show what a monitoring core sees."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from servers import smtpd

CHECK = str(Path(sys.executable).with_name("check_smtp_helo"))


def main() -> int:
    with smtpd(ident="ESMTP demo (aiosmtpd)") as port:
        command = [CHECK, "-H", "127.0.0.1", "-p", str(port), "-w", "0.5", "-c", "1", "-v"]
        print(f"local SMTP server (aiosmtpd) listening on 127.0.0.1:{port}")
        print(f"$ {shlex.join(['check_smtp_helo', *command[1:]])}")
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        print(result.stdout + result.stderr, end="")
        print(f"exit code: {result.returncode}")
    print("local SMTP server stopped")
    return 0 if result.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
