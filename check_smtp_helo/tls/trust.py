"""The system's CA certificates, loaded where OpenSSL's default paths find them."""

from __future__ import annotations

import os
import ssl


def trust_system_cas(context: ssl.SSLContext) -> None:
    """The system's CAs where OpenSSL's default paths find them: SSL_CERT_DIR (a list, as
    for OpenSSL) or the built-in directory, and SSL_CERT_FILE or the built-in bundle.

    A directory is read lazily (a CA when a chain needs it); a bundle is parsed whole (a
    measured cost: docs/performance.md). So the system's own bundle is left out where the system's
    directory has hash links: update-ca-certificates makes that bundle from the same CAs
    (Debian, Ubuntu, SUSE, Alpine). Where it has none (RHEL, Rocky, Alma: /etc/pki/tls/certs
    holds only bundles), the bundle is loaded. Any other bundle is always loaded."""
    paths = ssl.get_default_verify_paths()
    directories = os.environ.get(paths.openssl_capath_env) or paths.openssl_capath
    hashed = set()
    for directory in directories.split(os.pathsep):
        if os.path.isdir(directory):
            context.load_verify_locations(capath=directory)
            if _has_hash_links(directory):
                hashed.add(os.path.realpath(directory))
    bundle = os.environ.get(paths.openssl_cafile_env) or paths.openssl_cafile
    system_bundle = os.path.realpath(paths.openssl_cafile)
    system_hashed = os.path.realpath(paths.openssl_capath) in hashed
    if os.path.isfile(bundle) and not (system_hashed and os.path.realpath(bundle) == system_bundle):
        context.load_verify_locations(cafile=bundle)


def _has_hash_links(directory: str) -> bool:
    """Does the directory hold OpenSSL's subject-hash names (such as 9d6523ce.0)?"""
    with os.scandir(directory) as entries:
        for entry in entries:
            name = entry.name
            if len(name) > 9 and name[8] == "." and name[9:].isdigit():
                try:
                    int(name[:8], 16)
                except ValueError:
                    continue
                return True
    return False
