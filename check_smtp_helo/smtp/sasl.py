"""SASL for SMTP AUTH (RFC 4954): PLAIN, LOGIN, CRAM-MD5 and SCRAM-SHA-256, client side.

Imported only when --auth-user is given. Nothing here knows about SMTP or Nagios: a
mechanism turns the server's challenges into responses. The secret stays inside
`Credentials`; what a mechanism sends that would reveal it is listed in `revealing`, so
that the conversation can keep it out of every transcript and message (should the server
echo it).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import os

from ..core.text import hide, printable

# Strongest first: the default is the first of these that the server offers. SCRAM and
# CRAM-MD5 never send the secret, PLAIN and LOGIN send it (inside TLS) as it is.
MECHANISMS = ("SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN")
MAX_SCRAM_ITERATIONS = 100_000  # PBKDF2 runs in C, past any deadline: bound what a server asks


class SASLError(ValueError):
    """A challenge the mechanism cannot answer; the text says why, without the secret."""


def encode(data: bytes) -> str:
    """Base64 in one line, as SMTP AUTH sends it."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def decode(data: bytes) -> bytes:
    try:
        return binascii.a2b_base64(data)
    except binascii.Error as exc:
        raise SASLError("the challenge is not base64") from exc


def base64_cores(secret: bytes) -> list[bytes]:
    """What base64 text holds wherever the secret sits in the encoded data: for each of the
    three byte offsets, the characters that encode the secret's bytes alone."""
    cores = []
    for offset in range(3):
        encoded = binascii.b2a_base64(b"\0" * offset + secret, newline=False)
        core = encoded[4 if offset else 0 : 4 * ((offset + len(secret)) // 3)]
        if len(core) >= 4:  # a shorter one would hide random text, and reveal little
            cores.append(core)
    return cores


class Credentials:
    """A user, the secret, and the mechanism asked for (None: the strongest offered)."""

    def __init__(self, user: str, secret: str, mechanism: str | None = None) -> None:
        self.user = user
        # surrogateescape: a secret from the environment may hold bytes that are not UTF-8
        self._secret = secret.encode("utf-8", "surrogateescape")
        self.mechanism = mechanism
        hide(self._secret, *base64_cores(self._secret))  # from here on, never shown

    def __repr__(self) -> str:
        return f"Credentials({self.user!r}, '<hidden>', {self.mechanism!r})"

    def choose(self, offered: list[str]) -> str | None:
        """The mechanism to use of those offered, or None when it is not among them."""
        if self.mechanism is not None:
            return self.mechanism if self.mechanism in offered else None
        return next((name for name in MECHANISMS if name in offered), None)

    def start(self, name: str) -> Mechanism:
        return {"PLAIN": Plain, "LOGIN": Login, "CRAM-MD5": CramMD5, "SCRAM-SHA-256": Scram}[name](
            self.user.encode("utf-8"), self._secret
        )


class Mechanism:
    """One authentication exchange: an optional initial response, then challenge -> response.

    `revealing` holds the secret and every response (base64, as sent) from which it could
    be read back; `verified` is False until the server proved itself, where it can."""

    def __init__(self, user: bytes, secret: bytes) -> None:
        self.user = user
        self.secret = secret
        self.revealing: list[bytes] = [secret]
        self.verified = True

    def initial(self) -> str | None:
        """The base64 initial response sent with AUTH, or None."""
        return None

    def respond(self, challenge: bytes) -> str:
        """The base64 response to one decoded challenge."""
        raise SASLError("the server sent a challenge this mechanism does not expect")

    def _reveals(self, data: bytes) -> str:
        text = encode(data)
        self.revealing.append(text.encode("ascii"))
        return text


class Plain(Mechanism):
    """RFC 4616: authzid NUL authcid NUL passwd, as the initial response."""

    def initial(self) -> str:
        return self._reveals(b"\0" + self.user + b"\0" + self.secret)


class Login(Mechanism):
    """The user name, then the password, each on a challenge (draft-murchison-sasl-login)."""

    def __init__(self, user: bytes, secret: bytes) -> None:
        super().__init__(user, secret)
        self.answers = [user, secret]

    def respond(self, challenge: bytes) -> str:
        if not self.answers:
            return super().respond(challenge)
        return self._reveals(self.answers.pop(0))


class CramMD5(Mechanism):
    """RFC 2195: the user and the HMAC-MD5 of the challenge, keyed with the secret."""

    def __init__(self, user: bytes, secret: bytes) -> None:
        super().__init__(user, secret)
        self.answered = False

    def respond(self, challenge: bytes) -> str:
        if self.answered:
            return super().respond(challenge)
        self.answered = True
        digest = hmac.new(self.secret, challenge, hashlib.md5).hexdigest()
        return encode(self.user + b" " + digest.encode("ascii"))


class Scram(Mechanism):
    """RFC 5802/7677 SCRAM-SHA-256 without channel binding; the server must prove that it
    knows the secret too (its signature), else `verified` stays False."""

    def __init__(self, user: bytes, secret: bytes, nonce: str | None = None) -> None:
        super().__init__(user, secret)
        self.verified = False
        self.nonce = nonce or encode(os.urandom(18))
        name = user.replace(b"=", b"=3D").replace(b",", b"=2C")
        self.first_bare = b"n=" + name + b",r=" + self.nonce.encode("ascii")
        self.server_signature: bytes | None = None

    def initial(self) -> str:
        return encode(b"n,," + self.first_bare)

    def respond(self, challenge: bytes) -> str:
        if self.server_signature is None:
            return self._final(challenge)
        if self.verified:
            return super().respond(challenge)
        fields = _attributes(challenge)
        if "e" in fields:
            raise SASLError(f"the server reports {printable(fields['e'])!r}")
        if not hmac.compare_digest(_b64_field(fields, "v"), self.server_signature):
            raise SASLError("the server's signature does not verify: it does not know the secret")
        self.verified = True
        return ""

    def _final(self, server_first: bytes) -> str:
        fields = _attributes(server_first)
        nonce, salt = fields.get("r", b""), _b64_field(fields, "s")
        if not nonce.startswith(self.nonce.encode("ascii")) or len(nonce) == len(self.nonce):
            raise SASLError("the server's nonce does not extend ours")
        iterations = fields.get("i", b"")
        if not iterations.isdigit() or not 0 < int(iterations) <= MAX_SCRAM_ITERATIONS:
            raise SASLError(f"iteration count not within 1..{MAX_SCRAM_ITERATIONS}")
        salted = hashlib.pbkdf2_hmac("sha256", self.secret, salt, int(iterations))
        client_key = _hmac(salted, b"Client Key")
        without_proof = b"c=biws,r=" + nonce
        message = self.first_bare + b"," + server_first + b"," + without_proof
        signature = _hmac(hashlib.sha256(client_key).digest(), message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        self.server_signature = _hmac(_hmac(salted, b"Server Key"), message)
        return encode(without_proof + b",p=" + encode(proof).encode("ascii"))


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _attributes(message: bytes) -> dict[str, bytes]:
    """'r=abc,s=xyz,i=4096' -> {'r': b'abc', 's': b'xyz', 'i': b'4096'}."""
    fields: dict[str, bytes] = {}
    for part in message.split(b","):
        key, equals, value = part.partition(b"=")
        if equals and len(key) == 1:
            fields.setdefault(key.decode("ascii", "replace"), value)
    return fields


def _b64_field(fields: dict[str, bytes], key: str) -> bytes:
    if key not in fields:
        raise SASLError(f"the server's message has no {key}=")
    return decode(fields[key])
