"""What the options come to once read together: the host, the port, the EHLO/HELO argument,
the TLS policy and the AUTH credentials."""

from __future__ import annotations

import os

from ..core.inputs import dns_name, helo_argument, parse_host, regular_file
from ..core.text import shown
from .table import BY_FLAG, OPTIONS, PASSWORD_VARIABLE

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    from ..smtp.sasl import Credentials
    from ..tls.policy import TLSPolicy
    from .table import Options


class Settings:
    """What the options come to once read together: the host to connect to, the port, the
    EHLO/HELO argument (None lets the conversation choose), the TLS policy (None: plain) and
    the AUTH credentials (None: no AUTH)."""

    host: str
    port: int
    helo_name: str | None
    tls: TLSPolicy | None
    credentials: Credentials | None

    def __init__(self, options: Options) -> None:
        """ValueError with the reason when the options cannot go together."""
        self.host = options.mx or parse_host(options.hostname or "", options.family)
        require_dnspython(options)
        self.helo_name = helo_argument(options.fqdn, options.email)
        self.tls = tls_policy(options)
        self.credentials = credentials(options)
        self.port = options.port or default_port(options)


def require_dnspython(options: Options) -> None:
    """The DNS library is there when an option that needs it is set, or ValueError saying
    how to get it."""
    needing = [option for option in OPTIONS if option.needs_dnspython]
    if not any(getattr(options, option.dest) for option in needing):
        return
    import importlib.util  # noqa: PLC0415 -- the import policy

    if importlib.util.find_spec("dns") is None:
        flags = [option.flags[0] for option in needing]
        raise ValueError(
            f"{', '.join(flags[:-1])} and {flags[-1]} need dnspython (pip install dnspython, or "
            "on Debian apt install python3-dnspython)"
        )


def default_port(options: Options) -> int:
    """The first default of -p whose option is set."""
    for flag, port in BY_FLAG["-p"].defaults_with:
        if not flag or getattr(options, BY_FLAG[flag].dest):
            return port  # type: ignore[return-value]
    raise AssertionError("-p has no default that always applies")


def tls_policy(options: Options) -> TLSPolicy | None:
    """The TLSPolicy the options ask for, or None; ssl is imported only then."""
    if not options.speaks_tls:
        return None
    from ..tls.policy import TLSPolicy  # noqa: PLC0415 -- the import policy

    return TLSPolicy(
        implicit=options.implicit_tls,
        server_name=dns_name(options.sni, "--sni") if options.sni else None,
        verify=not options.insecure,
        ca_file=ca_file(options),
        min_version=options.min_tls,
        refuse_below=options.refuse_tls_below,
        all_certificates=options.all_certificates,
    )


def ca_file(options: Options) -> str | None:
    """--ca-file, once it is known to be a file to read."""
    return regular_file(options.ca_file, "--ca-file") if options.ca_file else None


def credentials(options: Options) -> Credentials | None:
    """The AUTH credentials the options ask for, or None; the secret is read from the file
    or the environment, never from the command line."""
    if options.auth_user is None:
        return None
    if options.auth_password_file is not None:
        secret = read_secret(options.auth_password_file, options.notes)
    else:
        secret = os.environ.get(PASSWORD_VARIABLE, "")
    if not secret:
        raise ValueError(
            f"--auth-user needs the password: in the environment variable {PASSWORD_VARIABLE} "
            "or in the first line of the file named by --auth-password-file"
        )
    from ..smtp.sasl import Credentials  # noqa: PLC0415 -- the import policy

    return Credentials(options.auth_user, secret, options.auth_mechanism)


def read_secret(path: str, notes: list[str]) -> str:
    """The first line of the password file; a note when every user may read the file."""
    regular_file(path, "--auth-password-file")
    try:
        with open(path, "rb") as file:
            first = file.readline(4096)
            mode = os.fstat(file.fileno()).st_mode
    except OSError as exc:
        raise ValueError(f"cannot use --auth-password-file {shown(path)}: {exc.strerror}") from exc
    if mode & 0o004:
        notes.append(
            f"warning: --auth-password-file {shown(path)} can be read by every user (chmod o-r)"
        )
    return first.rstrip(b"\r\n").decode("utf-8", "surrogateescape")
