"""`vrprune keygen`: keys for authenticated distributed runs (docs/distributed.md)."""

from __future__ import annotations

import argparse
import os
from typing import TextIO

EXIT_CODES = """exit codes:
  0    written (or, without the cryptography package or with --openssl, the openssl commands printed)
  2    usage error, or a file that exists or cannot be written
"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("keygen", help="write a pre-shared key and/or a CA with host certificates for `run --mapping`",
                       description="Write the secrets that authenticate TX/RX peers of a distributed run. "
                                   "--psk FILE: a 256-bit pre-shared key (mode 0600) for --psk-file. "
                                   "--tls DIR --hosts a,b: a self-signed CA (ca.pem, ca.key) and, per platform host, "
                                   "HOST.pem / HOST.key whose DNS name is the host name (for --tls-cert/--tls-key/"
                                   "--tls-ca). Without the `cryptography` package the openssl commands are printed.")
    p.add_argument("--psk", metavar="FILE", help="write a pre-shared key file")
    p.add_argument("--tls", metavar="DIR", help="write a CA and host certificates into DIR")
    p.add_argument("--hosts", metavar="H1,H2", default="endpoint,server",
                   help="platform host names to certify (default endpoint,server)")
    p.add_argument("--days", type=int, default=365, help="certificate validity (default 365)")
    p.add_argument("--openssl", action="store_true", help="print the openssl commands instead of writing certificates")
    p.add_argument("--force", action="store_true",
                   help="replace files that exist (default: refuse; a symbolic link is replaced, never followed)")
    return p


def openssl_commands(d: str, hosts: list[str], days: int) -> str:
    lines = [f"mkdir -p {d} && cd {d}",
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem "
             f"-days {days} -subj /CN=vrprune-ca -addext basicConstraints=critical,CA:TRUE "
             "-addext keyUsage=critical,keyCertSign,cRLSign"]
    for h in hosts:
        lines += [f"openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {h}.key -out {h}.csr "
                  f"-subj /CN={h}",
                  f"printf 'subjectAltName=DNS:{h}\\nextendedKeyUsage=serverAuth,clientAuth\\n' > {h}.ext",
                  f"openssl x509 -req -in {h}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out {h}.pem "
                  f"-days {days} -extfile {h}.ext",
                  f"chmod 600 {h}.key"]
    lines.append("chmod 600 ca.key")
    return "\n".join(lines) + "\n"


def tls_paths(d: str, hosts: list[str]) -> list[str]:
    """The files ``--tls DIR`` writes, in order: ca.pem, ca.key, then HOST.pem, HOST.key per host."""
    out = [os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")]
    for h in hosts:
        out += [os.path.join(d, f"{h}.pem"), os.path.join(d, f"{h}.key")]
    return out


def write_tls(d: str, hosts: list[str], days: int, force: bool = False) -> list[str]:
    """A CA and a certificate per host in ``d``: every file created exclusively (never through
    a symbolic link), keys with mode 0600, certificates 0644. FileExistsError names the first
    file that exists, before anything is written, unless ``force``."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from ..net import write_private

    if not force:
        for path in tls_paths(d, hosts):
            if os.path.lexists(path):
                raise FileExistsError(path)
    os.makedirs(d, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    until = now + datetime.timedelta(days=days)

    def key_pem(k) -> bytes:
        return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())

    def write(path: str, data: bytes, private: bool) -> None:
        write_private(path, data, mode=0o600 if private else 0o644, force=force)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vrprune-ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(until)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    written = [os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")]
    write(written[0], ca.public_bytes(serialization.Encoding.PEM), False)
    write(written[1], key_pem(ca_key), True)
    for h in hosts:
        k = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, h)])).issuer_name(ca_name)
                .public_key(k.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(until)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(h)]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        pem, key = os.path.join(d, f"{h}.pem"), os.path.join(d, f"{h}.key")
        write(pem, cert.public_bytes(serialization.Encoding.PEM), False)
        write(key, key_pem(k), True)
        written += [pem, key]
    return written


def run(args, stdout: TextIO, stderr: TextIO) -> int:
    from ..net import write_psk

    if not args.psk and not args.tls:
        print("vrprune keygen: error: nothing to do; give --psk FILE and/or --tls DIR", file=stderr)
        return 2
    if args.psk:
        try:
            write_psk(args.psk, force=args.force)
        except FileExistsError:
            print(f"vrprune keygen: error: {args.psk} exists; not overwriting a key (--force replaces it)",
                  file=stderr)
            return 2
        except OSError as exc:
            print(f"vrprune keygen: error: cannot write {args.psk}: {exc.strerror}", file=stderr)
            return 2
        print(f"wrote pre-shared key {args.psk} (mode 0600); copy it to every host over a secure channel, "
              f"then run with --psk-file {args.psk}", file=stdout)
    if args.tls:
        hosts = [h.strip() for h in args.hosts.split(",") if h.strip()]
        try:
            if args.openssl:
                raise ImportError
            import cryptography  # noqa: F401
        except ImportError:
            if not args.openssl:
                print("vrprune keygen: the `cryptography` package is not installed; run these openssl commands "
                      "(or `pip install 'vrprune[tls]'`):", file=stderr)
            stdout.write(openssl_commands(args.tls, hosts, args.days))
            return 0
        try:
            written = write_tls(args.tls, hosts, args.days, force=args.force)
        except FileExistsError as exc:
            print(f"vrprune keygen: error: {exc.filename or exc.args[0]} exists; not overwriting keys or "
                  f"certificates (--force replaces them)", file=stderr)
            return 2
        except OSError as exc:
            print(f"vrprune keygen: error: cannot write into {args.tls}: {exc.strerror} "
                  f"({exc.filename})", file=stderr)
            return 2
        for path in written:
            print(f"wrote {path}", file=stdout)
        print(f"each host runs with --tls-ca {args.tls}/ca.pem --tls-cert {args.tls}/HOST.pem "
              f"--tls-key {args.tls}/HOST.key; keep ca.key offline", file=stdout)
    return 0
