"""A development PKI: a local CA, a school seal certificate and the principal's personal certificate.

Real records are signed with certificates from a licensed Vietnamese CA on a token (PKCS#11, see
``keys.py``); this module only makes keys so that the pipeline, its tests and a demo can sign and be
verified end to end without one. The CA says so in its name.

Keys are RSA 2048 by default (what every verifier, Adobe Reader included, accepts); ``key_type="ec"``
makes EC P-256 keys instead (smaller and faster; on SoftHSM they need ``use_raw_mechanism``).
The leaf certificates carry key usage digitalSignature + nonRepudiation (contentCommitment) and the
document-signing extended key usage (RFC 9336), which both pyHanko and signxml's verifier check.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from pipelines.errors import ConfigError

KeyType = Literal["rsa", "ec"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # id-kp-documentSigning, RFC 9336
CA_YEARS = 10
LEAF_YEARS = 3
# Certificates start a little in the past so that a clock a few minutes behind still accepts them.
BACKDATE = dt.timedelta(hours=1)

CA_PEM, CA_KEY = "ca.pem", "ca.key.pem"
ROLES = ("school", "principal")


@dataclass(frozen=True)
class CertInfo:
    """What a person checking the PKI needs to see about one certificate."""

    role: str
    subject: str
    issuer: str
    sha256: str
    not_before: dt.datetime
    not_after: dt.datetime
    path: Path

    def to_dict(self) -> dict:
        return {"role": self.role, "subject": self.subject, "issuer": self.issuer, "sha256": self.sha256,
                "not_before": self.not_before.isoformat(), "not_after": self.not_after.isoformat(),
                "path": str(self.path)}


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lower-case hex (what the ledger and `hocba pki init` print)."""
    return cert.fingerprint(hashes.SHA256()).hex()


_NAMES = {NameOID.TITLE: "title", NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier"}


def subject_of(cert: x509.Certificate) -> str:
    """The subject as RFC 4514 text with readable attribute names."""
    return cert.subject.rfc4514_string(_NAMES)


def describe(cert: x509.Certificate, role: str, path: Path) -> CertInfo:
    return CertInfo(role=role, subject=subject_of(cert), issuer=cert.issuer.rfc4514_string(_NAMES),
                    sha256=fingerprint(cert), not_before=cert.not_valid_before_utc,
                    not_after=cert.not_valid_after_utc, path=path)


def _new_key(key_type: KeyType) -> PrivateKey:
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    raise ConfigError(f"key type {key_type!r}: expected 'rsa' or 'ec'")


def _name(*attrs: tuple[ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attrs])


def _make_ca(key: PrivateKey, now: dt.datetime, school_code: str) -> x509.Certificate:
    name = _name((NameOID.COUNTRY_NAME, "VN"),
                 (NameOID.ORGANIZATION_NAME, "hocba (phát triển / development)"),
                 (NameOID.COMMON_NAME, f"hocba Dev CA {school_code} - KHÔNG dùng cho hồ sơ thật"))
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE).not_valid_after(now + dt.timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )


def _make_leaf(subject: x509.Name, key: PrivateKey, ca_cert: x509.Certificate, ca_key: PrivateKey,
               now: dt.datetime) -> x509.Certificate:
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE).not_valid_after(now + dt.timedelta(days=365 * LEAF_YEARS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        # documentSigning for RFC 9336 verifiers, emailProtection for ones (Adobe) that predate it.
        .add_extension(x509.ExtendedKeyUsage([DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a key behind."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)  # the umask may have taken bits away; set exactly what was asked
    os.replace(tmp, path)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@contextlib.contextmanager
def _locked(dir: Path) -> Iterator[None]:
    """One maker at a time per folder (two demo processes starting together would mix two CAs)."""
    dir.mkdir(parents=True, exist_ok=True)
    os.chmod(dir, 0o700)
    with open(dir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def init_pki(dir: Path, *, school_code: str = "DEMO", school_name: str = "Trường THCS Demo",
             principal_name: str = "Nguyễn Văn A", passphrase: str, force: bool = False,
             key_type: KeyType = "rsa") -> dict:
    """Make the development CA, the school seal and the principal's certificate under ``dir``.

    Files: ``ca.pem``, ``ca.key.pem`` (encrypted with ``passphrase``, mode 0600), ``school.p12`` and
    ``principal.p12`` (key + certificate + CA, encrypted, 0600) with ``school.pem`` / ``principal.pem``.
    Refuses to replace an existing CA unless ``force``: certificates already issued would stop verifying.
    Returns what was made (see :func:`describe_pki`).
    """
    if not passphrase:
        raise ConfigError("PKI: passphrase is empty (setting HOCBA_PKI_PASSPHRASE)")
    dir = Path(dir).expanduser().resolve()
    with _locked(dir):
        if (dir / CA_PEM).exists() and not force:
            raise ConfigError(f"PKI: đã có CA ở {dir / CA_PEM} / a CA already exists there; kept (--force "
                              "replaces it: records signed so far would no longer verify against it)")
        return _make_pki(dir, school_code=school_code, school_name=school_name, principal_name=principal_name,
                         passphrase=passphrase, key_type=key_type)


def _make_pki(dir: Path, *, school_code: str, school_name: str, principal_name: str, passphrase: str,
              key_type: KeyType) -> dict:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    enc = serialization.BestAvailableEncryption(passphrase.encode())

    ca_key = _new_key(key_type)
    ca_cert = _make_ca(ca_key, now, school_code)
    subjects = {
        "school": _name((NameOID.COUNTRY_NAME, "VN"), (NameOID.ORGANIZATION_NAME, school_name),
                        (NameOID.ORGANIZATION_IDENTIFIER, f"VN-{school_code}"),
                        (NameOID.COMMON_NAME, school_name)),
        "principal": _name((NameOID.COUNTRY_NAME, "VN"), (NameOID.ORGANIZATION_NAME, school_name),
                           (NameOID.TITLE, "Hiệu trưởng"), (NameOID.COMMON_NAME, principal_name)),
    }
    for role in ROLES:
        key = _new_key(key_type)
        cert = _make_leaf(subjects[role], key, ca_cert, ca_key, now)
        p12 = pkcs12.serialize_key_and_certificates(role.encode(), key, cert, [ca_cert], enc)
        _write(dir / f"{role}.p12", p12, 0o600)
        _write(dir / f"{role}.pem", _pem(cert))
    _write(dir / CA_KEY, ca_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              enc), 0o600)
    _write(dir / CA_PEM, _pem(ca_cert))  # last: its presence means the PKI is complete
    return describe_pki(dir) | {"key_type": key_type}


def describe_pki(dir: Path) -> dict:
    """The certificates of a PKI made by :func:`init_pki`: paths, subjects, fingerprints, validity."""
    dir = Path(dir).expanduser().resolve()
    if not (dir / CA_PEM).exists():
        raise ConfigError(f"PKI: no CA at {dir / CA_PEM}; run `hocba pki init`")
    certs = [describe(x509.load_pem_x509_certificate((dir / CA_PEM).read_bytes()), "ca", dir / CA_PEM)]
    for role in ROLES:
        pem = dir / f"{role}.pem"
        if pem.exists():
            certs.append(describe(x509.load_pem_x509_certificate(pem.read_bytes()), role, pem))
    return {"dir": str(dir), "certificates": [c.to_dict() for c in certs],
            "files": sorted(str(p) for p in dir.iterdir() if not p.name.startswith("."))}


def ensure_pki(dir: Path, *, passphrase: str, **kwargs) -> dict:
    """The PKI under ``dir``, made first if there is none (demo and tests; never replaces a CA)."""
    dir = Path(dir).expanduser().resolve()
    if not (dir / CA_PEM).exists():
        with _locked(dir):
            if not (dir / CA_PEM).exists():
                return _make_pki(dir, passphrase=passphrase, **_DEFAULTS | kwargs)
    return describe_pki(dir)


_DEFAULTS = {"school_code": "DEMO", "school_name": "Trường THCS Demo", "principal_name": "Nguyễn Văn A",
             "key_type": "rsa"}
