"""A few dozen lines of DER reading, so that an unverified certificate (getpeercert() is then
empty) is described exactly like a verified one. Anything it cannot read is a ValueError.
Why not `cryptography`: docs/development.md."""

from __future__ import annotations

import _socket as socket  # the import policy: docs/development.md

from ..core.text import printable, shown

_NAMES = {"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
          "2.5.4.11": "OU"}  # fmt: skip
_SUBJECT_ALT_NAME = "2.5.29.17"
# Key algorithms (RFC 3279, 5480, 8410) and the named curves' sizes
_KEYS = {"1.2.840.113549.1.1.1": "RSA", "1.2.840.113549.1.1.10": "RSA-PSS",
         "1.2.840.10045.2.1": "EC", "1.2.840.10040.4.1": "DSA", "1.3.101.112": "Ed25519",
         "1.3.101.113": "Ed448"}  # fmt: skip
_CURVES = {"1.2.840.10045.3.1.7": ("P-256", 256), "1.3.132.0.34": ("P-384", 384),
           "1.3.132.0.35": ("P-521", 521), "1.3.132.0.33": ("P-224", 224),
           "1.2.840.10045.3.1.1": ("P-192", 192), "1.3.36.3.3.2.8.1.1.7": ("brainpoolP256r1", 256),
           "1.3.36.3.3.2.8.1.1.11": ("brainpoolP384r1", 384),
           "1.3.36.3.3.2.8.1.1.13": ("brainpoolP512r1", 512)}  # fmt: skip
_EDWARDS_BITS = {"Ed25519": 256, "Ed448": 456}
# Signature algorithms (RFC 3279, 4055, 5758, 8410) in words
_SIGNATURES = {
    "1.2.840.113549.1.1.2": "MD2 with RSA", "1.2.840.113549.1.1.4": "MD5 with RSA",
    "1.2.840.113549.1.1.5": "SHA-1 with RSA", "1.3.14.3.2.29": "SHA-1 with RSA",
    "1.2.840.113549.1.1.14": "SHA-224 with RSA", "1.2.840.113549.1.1.11": "SHA-256 with RSA",
    "1.2.840.113549.1.1.12": "SHA-384 with RSA", "1.2.840.113549.1.1.13": "SHA-512 with RSA",
    "1.2.840.113549.1.1.10": "RSA-PSS", "1.2.840.10045.4.1": "SHA-1 with ECDSA",
    "1.2.840.10045.4.3.1": "SHA-224 with ECDSA", "1.2.840.10045.4.3.2": "SHA-256 with ECDSA",
    "1.2.840.10045.4.3.3": "SHA-384 with ECDSA", "1.2.840.10045.4.3.4": "SHA-512 with ECDSA",
    "1.2.840.10040.4.3": "SHA-1 with DSA", "2.16.840.1.101.3.4.3.2": "SHA-256 with DSA",
    "1.3.101.112": "Ed25519", "1.3.101.113": "Ed448",
}  # fmt: skip


def _element(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start, end) of the DER element at pos."""
    if pos + 2 > len(der):
        raise ValueError("DER element runs past the end")
    tag, length = der[pos], der[pos + 1]
    pos += 2
    if length & 0x80:
        size = length & 0x7F
        if not 0 < size <= 4 or pos + size > len(der):
            raise ValueError("DER length is not readable")
        length = int.from_bytes(der[pos : pos + size], "big")
        pos += size
    if pos + length > len(der):
        raise ValueError("DER element runs past the end")
    return tag, pos, pos + length


def _children(der: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    items = []
    while start < end:
        item = _element(der, start)
        if item[2] > end:
            raise ValueError("DER element runs past its parent")
        items.append(item)
        start = item[2]
    return items


def _oid(value: bytes) -> str:
    if not value:
        raise ValueError("empty object identifier")
    parts = [min(value[0] // 40, 2), value[0] - 40 * min(value[0] // 40, 2)]
    number = 0
    for byte in value[1:]:
        number = number << 7 | byte & 0x7F
        if not byte & 0x80:
            parts.append(number)
            number = 0
    return ".".join(map(str, parts))


def _name(der: bytes, start: int, end: int) -> str:
    """An X.501 Name as 'CN=mx.example.com, O=Example'."""
    parts = []
    for _set, set_start, set_end in _children(der, start, end):
        for _seq, seq_start, seq_end in _children(der, set_start, set_end):
            pair = _children(der, seq_start, seq_end)
            if len(pair) < 2:
                raise ValueError("a name attribute without a value")
            (_, os_, oe), (value_tag, vs, ve) = pair[:2]
            oid = _oid(der[os_:oe])
            value = der[vs:ve]
            if value_tag == 0x1E:  # BMPString: UTF-16BE
                value = value.decode("utf-16-be", "replace").encode("ascii", "replace")
            parts.append(f"{_NAMES.get(oid, oid)}={printable(value)}")
    return ", ".join(parts)


def _time(der: bytes, tag: int, start: int, end: int) -> int:
    """UTCTime (0x17) or GeneralizedTime (0x18) as seconds since the epoch; either tag is
    read wherever it stands, with or without seconds, and with fractions of a second."""
    text = der[start:end].decode("ascii", "replace")
    if tag not in (0x17, 0x18) or not text.endswith("Z"):
        raise ValueError(f"time {shown(text)} is not in UTC")
    digits = text[:-1].split(".", 1)[0]
    if tag == 0x17:
        if not digits[:2].isdigit():
            raise ValueError(f"time {shown(text)} is not a time")
        digits = ("19" if int(digits[:2]) >= 50 else "20") + digits
    if len(digits) == 12:
        digits += "00"
    if len(digits) != 14 or not digits.isdigit():
        raise ValueError(f"time {shown(text)} is not a time")
    month, day, hour, minute, second = (int(digits[i : i + 2]) for i in range(4, 14, 2))
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        raise ValueError(f"time {shown(text)} is not a time")
    days = days_from_civil(int(digits[:4]), month, day)
    return ((days * 24 + hour) * 60 + minute) * 60 + second


def _public_key(der: bytes, start: int, end: int) -> dict:
    """The type and size of a SubjectPublicKeyInfo: RSA by its modulus, EC by its named
    curve, DSA by its prime; a type this reader does not know keeps its OID and no size."""
    (_tag, a_start, a_end), (_bits, k_start, _end) = _children(der, start, end)[:2]
    parameters = _children(der, a_start, a_end)
    oid = _oid(der[parameters[0][1] : parameters[0][2]])
    kind, bits, curve = _KEYS.get(oid, oid), None, ""
    if kind in ("RSA", "RSA-PSS"):  # BIT STRING: unused bits, then SEQUENCE {n, e}
        _tag, n_start, n_end = _children(der, *_element(der, k_start + 1)[1:])[0]
        bits = int.from_bytes(der[n_start:n_end], "big").bit_length()
    elif kind == "EC" and len(parameters) > 1 and parameters[1][0] == 0x06:
        named = _oid(der[parameters[1][1] : parameters[1][2]])
        curve, bits = _CURVES.get(named, (named, None))
    elif kind == "DSA" and len(parameters) > 1:  # Dss-Parms {p, q, g}
        _tag, p_start, p_end = _children(der, parameters[1][1], parameters[1][2])[0]
        bits = int.from_bytes(der[p_start:p_end], "big").bit_length()
    else:
        bits = _EDWARDS_BITS.get(kind)
    return {"key_type": kind, "key_bits": bits, "curve": curve}


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a Gregorian date (H. Hinnant's algorithm); what
    calendar.timegm computes, without importing calendar, datetime and locale."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _alt_names(der: bytes, start: int, end: int) -> list[str]:
    """DNS names and IP addresses of a subjectAltName; an address that is neither 4 nor 16
    bytes is shown as OpenSSL does ('<invalid>') rather than making the whole unreadable."""
    names = []
    for tag, s, e in _children(der, *_element(der, start)[1:]):
        if tag == 0x82:
            names.append(f"DNS:{printable(der[s:e])}")
        elif tag == 0x87:
            family = {4: socket.AF_INET, 16: socket.AF_INET6}.get(e - s)
            names.append(f"IP:{socket.inet_ntop(family, der[s:e])}" if family else "IP:<invalid>")
    return names


def parse_certificate(der: bytes) -> dict:
    """Subject, issuer, alternative names, notBefore and notAfter of a DER certificate, its
    key (key_type such as RSA or EC, key_bits, curve), its signature algorithm in words and
    whether it is self-signed; ValueError saying what could not be read."""
    try:
        return _parse(der)
    except (IndexError, UnicodeError) as exc:
        raise ValueError(f"not DER ({exc})") from exc


def _tbs_fields(der: bytes) -> list[tuple[int, int, int]]:
    """The fields of a certificate's TBSCertificate, without the explicit version: serial,
    signature algorithm, issuer, validity, subject, public key info, extensions..."""
    _tag, start, end = _element(der, 0)
    _tag, tbs_start, tbs_end = _children(der, start, end)[0]
    fields = _children(der, tbs_start, tbs_end)
    return fields[1:] if fields[0][0] == 0xA0 else fields


def public_key_info(der: bytes) -> bytes:
    """The DER SubjectPublicKeyInfo of a DER certificate (what TLSA selector 1 matches);
    ValueError when it cannot be read."""
    try:
        fields = _tbs_fields(der)
        return der[fields[4][2] : fields[5][2]]  # from the end of the subject, header included
    except IndexError as exc:
        raise ValueError(f"not DER ({exc})") from exc


def _parse(der: bytes) -> dict:
    fields = _tbs_fields(der)
    _serial, _algorithm, issuer, validity, subject, key = fields[:6]
    not_before, not_after = _children(der, validity[1], validity[2])[:2]
    _tag, start, end = _element(der, 0)
    algorithm = _children(der, *_children(der, start, end)[1][1:])[0]
    signature = _oid(der[algorithm[1] : algorithm[2]])
    facts = {
        "issuer": _name(der, issuer[1], issuer[2]),
        "subject": _name(der, subject[1], subject[2]),
        "not_before": _time(der, *not_before),
        "not_after": _time(der, *not_after),
        "alt_names": [],
        "signature": _SIGNATURES.get(signature, signature),
        "self_signed": der[issuer[1] : issuer[2]] == der[subject[1] : subject[2]],
        **_public_key(der, key[1], key[2]),
    }
    for tag, s, _end in fields[6:]:
        if tag != 0xA3:
            continue
        for _ext, ext_start, ext_end in _children(der, *_element(der, s)[1:]):
            parts = _children(der, ext_start, ext_end)
            if _oid(der[parts[0][1] : parts[0][2]]) == _SUBJECT_ALT_NAME:
                facts["alt_names"] = _alt_names(der, parts[-1][1], parts[-1][2])
    return facts
