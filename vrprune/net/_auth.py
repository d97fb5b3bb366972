"""Authentication of TX/RX peers: a pre-shared key (HMAC-SHA256 challenge-response in the
handshake, see :mod:`._wire`) and/or TLS with mutual certificate authentication.

A PSK authenticates the peers only; the token stream itself is not encrypted or protected.
TLS (``--tls-cert/--tls-key/--tls-ca``) encrypts and protects the stream, and both sides
must present a certificate signed by the CA whose DNS name (subject alternative name) is the
platform's host name: the RX checks that the TX is the host the mapping says the edge comes
from, and the TX checks the RX the same way.
"""

from __future__ import annotations

import os
import secrets
import ssl
import stat
from dataclasses import dataclass
from typing import Any

from ._wire import DistError

PSK_BYTES = 32


def write_private(path: str, data: bytes, *, mode: int = 0o600, force: bool = False) -> None:
    """Create ``path`` holding ``data`` with ``mode``: exclusively (an existing file, or a symbolic
    link, is never written through: FileExistsError, unless ``force``, which first removes the
    file or the link itself, never what a link points to)."""
    if force:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        os.fchmod(fd, mode)  # whatever the umask left
        with os.fdopen(fd, "wb") as f:
            fd = -1
            f.write(data)
    finally:
        if fd >= 0:
            os.close(fd)


def write_psk(path: str, force: bool = False) -> None:
    """Write a fresh 256-bit key, hex, to ``path`` (mode 0600; refuses to overwrite unless ``force``)."""
    write_private(path, (secrets.token_hex(PSK_BYTES) + "\n").encode("ascii"), force=force)


INSECURE_HINT = "--insecure-key-perms"


def check_private(path: str, what: str, insecure: bool = False, warn=None) -> None:
    """Refuse a secret file that users other than its owner may read or write (any group or
    other permission bit), unless ``insecure`` (then ``warn``)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise DistError(f"cannot read {what} {path}: {exc.strerror}") from exc
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        msg = (f"{what} {path} is open to other users (mode {stat.S_IMODE(st.st_mode):04o}); "
               f"run `chmod 600 {path}`")
        if not insecure:
            raise DistError(f"{msg}, or pass {INSECURE_HINT} to use it anyway")
        if warn is not None:
            warn(f"warning: {msg} ({INSECURE_HINT})")


def read_psk(path: str, warn=None, insecure: bool = False) -> bytes:
    """Read a key file: hex text (what ``vrprune keygen`` writes) or at least 16 raw bytes. A
    file open to other users is refused unless ``insecure``."""
    check_private(path, "pre-shared key file", insecure, warn)
    try:
        with open(path, "rb") as f:
            data = f.read(4096)
    except OSError as exc:
        raise DistError(f"cannot read pre-shared key file {path}: {exc.strerror}") from exc
    text = data.strip()
    try:
        key = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = text
    if len(key) < 16:
        raise DistError(f"pre-shared key file {path} holds {len(key)} bytes; at least 16 are needed "
                        f"(write one with `vrprune keygen --psk {path}`)")
    return key


@dataclass(frozen=True)
class TlsFiles:
    cert: str
    key: str
    ca: str


def _context(files: TlsFiles, server: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    try:
        ctx.load_cert_chain(files.cert, files.key)
        ctx.load_verify_locations(files.ca)
    except (OSError, ssl.SSLError) as exc:
        raise DistError(f"TLS set-up failed ({files.cert}, {files.key}, {files.ca}): {exc}") from exc
    ctx.verify_mode = ssl.CERT_REQUIRED
    if not server:
        ctx.check_hostname = True
    return ctx


def server_context(files: TlsFiles) -> ssl.SSLContext:
    return _context(files, True)


def client_context(files: TlsFiles) -> ssl.SSLContext:
    return _context(files, False)


def peer_names(sock: ssl.SSLSocket) -> set[str]:
    """The DNS names and common name of the peer's (verified) certificate."""
    cert: dict[str, Any] = dict(sock.getpeercert() or {})
    names: set[str] = {str(v) for k, v in cert.get("subjectAltName", ()) if k == "DNS"}
    for rdn in cert.get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                names.add(str(v))
    return names
