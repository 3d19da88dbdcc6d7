"""--help, written from the option table."""

from __future__ import annotations

import textwrap

from .rules import phrases

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    from .table import Option

USAGE = "usage: check_smtp_helo -H HOST [options]\n       check_smtp_helo --mx DOMAIN [options]"
DESCRIPTION = """\
Checks that an SMTP server is available: connects, reads the 220 banner, says EHLO
(or HELO) and QUIT, and reports the response time (connect to the end of the EHLO
reply) with the time of each phase as perfdata. A banner other than 220 or an EHLO/HELO
reply other than 250 is CRITICAL, as is a server that is down, refuses or times out.
When asked, it goes on with AUTH, MAIL FROM and RCPT TO and judges each reply; it
never sends DATA.
With --mx it checks a mail domain: every address of every MX host, all at once, with
DANE (--dane) and MTA-STS (--mta-sts) if asked."""
EXAMPLES = """\
examples:
  check_smtp_helo -H mx.example.com -w 1 -c 2
  check_smtp_helo -H 2001:db8::25 -p 587 -S -D 30,14 --sni mx.example.com
  check_smtp_helo -H mx.example.com --email monitor@example.com -e 'ESMTP Postfix'
  check_smtp_helo -H mx.example.com --rcpt-to postmaster@example.com
  CHECK_SMTP_HELO_PASSWORD=... check_smtp_helo -H smtp.example.com -p 587 -S --auth-user u
  check_smtp_helo --mx example.com --dane --mta-sts -w 2 -c 5

--help and --version exit 3 (UNKNOWN), as monitoring-plugins do, so that a command
misconfigured to print them never shows a service as OK."""


def help_text(options: list[Option]) -> str:
    """--help, from the option table."""

    lines = [USAGE, "", DESCRIPTION, "", "options:"]
    for option in options:
        spelled = ", ".join(f"{flag} {option.metavar}".rstrip() for flag in option.flags)
        lines.append(f"  {spelled}")
        said = phrases(option, options)
        text = f"{option.help} ({'; '.join(said)})" if said else option.help
        lines += textwrap.wrap(
            text, 76, initial_indent=" " * 8, subsequent_indent=" " * 8, break_on_hyphens=False
        )
    return "\n".join([*lines, "", EXAMPLES, ""])
