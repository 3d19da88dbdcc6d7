"""Resolve the target's name and connect to the first address that accepts, within the deadline."""

from __future__ import annotations

# Timeouts are caught as socket.timeout: TimeoutError is its alias only from Python 3.10 on.
import _socket as socket  # the import policy: docs/development.md
import threading

from ..core.deadline import DeadlineError
from ..core.inputs import ip_family
from .clock import AbortError, Clock
from .model import Failure

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    from .model import Lookup, Target


def describe(exc: OSError) -> str:
    """An OSError in lower case words: 'connection refused'."""
    words = exc.strerror or str(exc) or type(exc).__name__
    return words[:1].lower() + words[1:]


def resolve(target: Target, clock: Clock) -> list[tuple]:
    """getaddrinfo within the deadline; a name is looked up in a thread that may be abandoned."""
    if target.lookup is not None:
        return _lookup(target.lookup, target, clock)
    numeric = ip_family(target.host) is not None
    flags = socket.AI_NUMERICHOST if numeric else 0
    outcome: list = []

    def lookup() -> None:
        try:
            # bytes, not str: a str host makes CPython import the idna codec (the import policy)
            host = target.host.encode("ascii")
            outcome.append(
                socket.getaddrinfo(host, target.port, target.family, socket.SOCK_STREAM, 0, flags)
            )
        except OSError as exc:
            outcome.append(exc)

    if numeric:
        lookup()
    else:
        worker = threading.Thread(target=lookup, daemon=True)
        worker.start()
        try:
            worker.join(clock.left("dns", f"no address for {target.host}"))
        except DeadlineError:
            raise clock.late("dns", f"no address for {target.host}") from None
        if not outcome:
            raise clock.late("dns", f"no address for {target.host}")
    if isinstance(outcome[0], OSError):
        reason = f"cannot resolve {target.host}: {describe(outcome[0])}"
        raise AbortError(Failure("dns", reason, False))
    return outcome[0]


def _lookup(lookup: Lookup, target: Target, clock: Clock) -> list[tuple]:
    """The target's own lookup (the domain's DNS), as getaddrinfo would return it."""
    try:
        found = lookup(target.host, clock.left("dns", f"no address for {target.host}"))
    except OSError as exc:
        reason, late = f"cannot resolve {target.host}: {exc}", getattr(exc, "timed_out", False)
        raise AbortError(Failure("dns", reason, late)) from exc
    if not found:
        raise AbortError(Failure("dns", f"cannot resolve {target.host}: no address", False))
    return [
        (socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM, 0, "",
         (address, target.port))
        for address in found
    ]  # fmt: skip


def connect(addresses: list[tuple], clock: Clock) -> socket.socket:
    """Connect to the first address that accepts; each gets a fair share of the time left."""
    errors: list[tuple[str, str]] = []
    for index, (family, socktype, proto, _name, sockaddr) in enumerate(addresses):
        share = clock.left("connect", "no connection") / (len(addresses) - index)
        sock = socket.socket(family, socktype, proto)
        sock.settimeout(share)
        try:
            sock.connect(sockaddr)
        except (socket.timeout, DeadlineError):
            sock.close()
            errors.append((sockaddr[0], ""))
        except OSError as exc:
            sock.close()
            errors.append((sockaddr[0], describe(exc)))
        else:
            return sock
    tried = f" ({', '.join(address for address, _ in errors)})" if len(errors) > 1 else ""
    reasons = {reason for _address, reason in errors}
    if reasons == {""}:
        raise clock.late("connect", f"no connection{tried}")
    if len(reasons) == 1:
        raise AbortError(Failure("connect", f"{reasons.pop()}{tried}", False))
    reason = ", ".join(f"{address}: {why or 'timed out'}" for address, why in errors)
    raise AbortError(Failure("connect", reason, False))
