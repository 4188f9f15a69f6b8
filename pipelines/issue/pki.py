"""A development PKI: a local CA and, for each school code, a school seal and its principal's certificate.

Real records are signed with certificates from a licensed Vietnamese CA on a token (PKCS#11, see
``keys.py``); this module only makes keys so that the pipeline, its tests and a demo can sign and be
verified end to end without one. The CA says so in its name.

Keys are RSA 2048 by default (what every verifier, Adobe Reader included, accepts); ``key_type="ec"``
makes EC P-256 keys instead (smaller and faster; on SoftHSM they need ``use_raw_mechanism``).
The leaf certificates carry key usage digitalSignature + nonRepudiation (contentCommitment) and the
document-signing extended key usage (RFC 9336), which both pyHanko and signxml's verifier check.

Layout (the one ``keys.py`` reads): ``<dir>/ca.pem``, ``<dir>/ca.key.pem`` and one folder per school,
``<dir>/<school_code>/school.p12|.pem`` and ``principal.p12|.pem``; the school certificate's subject
names the school (organizationIdentifier ``VN-<school_code>``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import re
import shutil
from collections.abc import Iterator, Sequence
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
ROLE_FILES = {role: f"{role}.p12" for role in ROLES}
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class School:
    """A school to make keys for: its code (the inbox folder's name) and the names its certificates carry."""

    code: str
    name: str | None = None
    """The school's name in its seal certificate; None: ``Trường <code>``."""
    principal: str = "Nguyễn Văn A"
    """The principal's name in the personal certificate."""

    @property
    def display_name(self) -> str:
        return self.name or f"Trường {self.code}"


DEMO_SCHOOL = School("DEMO", "Trường THCS Demo")


def school_dir(keys_dir: Path, school_code: str) -> Path:
    """The folder of one school's keys: ``<keys_dir>/<school_code>``."""
    if not _CODE.fullmatch(school_code or ""):
        raise ConfigError(f"school code {school_code!r} cannot name a key folder: letters, digits, '.', '_' "
                          "and '-' expected")
    return Path(keys_dir).expanduser().resolve() / school_code


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


def _make_ca(key: PrivateKey, now: dt.datetime, label: str) -> x509.Certificate:
    name = _name((NameOID.COUNTRY_NAME, "VN"),
                 (NameOID.ORGANIZATION_NAME, "hocba (phát triển / development)"),
                 (NameOID.COMMON_NAME, f"hocba Dev CA{label} - KHÔNG dùng cho hồ sơ thật"))
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


def _schools(schools: Sequence[School | str]) -> list[School]:
    out = [School(s) if isinstance(s, str) else s for s in schools]
    if not out:
        raise ConfigError("PKI: no school code given (--school-code)")
    codes = [s.code for s in out]
    for code in codes:
        school_dir(Path("."), code)  # refuses a code that cannot name a folder
    if len(set(codes)) != len(codes):
        raise ConfigError(f"PKI: a school code is given twice ({', '.join(codes)})")
    return out


def school_codes(dir: Path) -> list[str]:
    """The school codes with keys under ``dir`` (folders holding a school.pem)."""
    dir = Path(dir).expanduser().resolve()
    if not dir.is_dir():
        return []
    return sorted(p.name for p in dir.iterdir() if p.is_dir() and (p / "school.pem").exists())


def init_pki(dir: Path, *, schools: Sequence[School | str] = (DEMO_SCHOOL,), passphrase: str,
             force: bool = False, key_type: KeyType = "rsa") -> dict:
    """Make the development CA and, for each school, its seal and its principal's certificate under ``dir``.

    Files: ``ca.pem``, ``ca.key.pem`` (encrypted with ``passphrase``, mode 0600), and per school
    ``<code>/school.p12`` and ``<code>/principal.p12`` (key + certificate + CA, encrypted, 0600) with
    ``school.pem`` / ``principal.pem``. Refuses to replace an existing CA unless ``force`` (which also
    removes the schools' keys the old CA made): certificates already issued would stop verifying.
    Returns what was made (see :func:`describe_pki`).
    """
    if not passphrase:
        raise ConfigError("PKI: passphrase is empty (setting HOCBA_PKI_PASSPHRASE)")
    made = _schools(schools)
    dir = Path(dir).expanduser().resolve()
    with _locked(dir):
        if (dir / CA_PEM).exists() and not force:
            raise ConfigError(f"PKI: đã có CA ở {dir / CA_PEM} / a CA already exists there; kept (--add adds "
                              "schools to it; --force replaces it: records signed so far would no longer "
                              "verify against it)")
        for code in school_codes(dir):
            shutil.rmtree(dir / code)
        return _make_pki(dir, schools=made, passphrase=passphrase, key_type=key_type)


def add_schools(dir: Path, *, schools: Sequence[School | str], passphrase: str) -> dict:
    """Add keys for ``schools`` to the PKI under ``dir``, issued by its CA (key type: the CA's).
    Refuses a school that already has keys (they would be replaced under signed records)."""
    made = _schools(schools)
    dir = Path(dir).expanduser().resolve()
    with _locked(dir):
        if not (dir / CA_PEM).exists():
            raise ConfigError(f"PKI: no CA at {dir / CA_PEM}; run `hocba pki init` first")
        have = [s.code for s in made if s.code in school_codes(dir)]
        if have:
            raise ConfigError(f"PKI: school(s) {', '.join(have)} already have keys under {dir}; kept")
        ca_key, ca_cert = _load_ca(dir, passphrase)
        key_type: KeyType = "ec" if isinstance(ca_key, ec.EllipticCurvePrivateKey) else "rsa"
        for school in made:
            _make_school(dir, school, ca_key, ca_cert, passphrase, key_type)
        return describe_pki(dir) | {"key_type": key_type}


def _load_ca(dir: Path, passphrase: str) -> tuple[PrivateKey, x509.Certificate]:
    try:
        key = serialization.load_pem_private_key((dir / CA_KEY).read_bytes(), passphrase.encode())
    except (ValueError, TypeError, FileNotFoundError) as exc:
        raise ConfigError(f"PKI: cannot open the CA key {dir / CA_KEY} ({type(exc).__name__}); check "
                          "HOCBA_PKI_PASSPHRASE") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ConfigError(f"PKI: {dir / CA_KEY}: only RSA and EC keys are supported")
    return key, x509.load_pem_x509_certificate((dir / CA_PEM).read_bytes())


def _make_school(dir: Path, school: School, ca_key: PrivateKey, ca_cert: x509.Certificate, passphrase: str,
                 key_type: KeyType) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    enc = serialization.BestAvailableEncryption(passphrase.encode())
    name = school.display_name
    subjects = {
        "school": _name((NameOID.COUNTRY_NAME, "VN"), (NameOID.ORGANIZATION_NAME, name),
                        (NameOID.ORGANIZATION_IDENTIFIER, f"VN-{school.code}"), (NameOID.COMMON_NAME, name)),
        "principal": _name((NameOID.COUNTRY_NAME, "VN"), (NameOID.ORGANIZATION_NAME, name),
                           (NameOID.ORGANIZATION_IDENTIFIER, f"VN-{school.code}"),
                           (NameOID.TITLE, "Hiệu trưởng"), (NameOID.COMMON_NAME, school.principal)),
    }
    out = school_dir(dir, school.code)
    if out.exists():
        raise ConfigError(f"PKI: {out} exists but holds no school.pem; move it away, then run again")
    tmp = out.with_name(f".{school.code}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(mode=0o700)
    for role in ROLES:
        key = _new_key(key_type)
        cert = _make_leaf(subjects[role], key, ca_cert, ca_key, now)
        p12 = pkcs12.serialize_key_and_certificates(role.encode(), key, cert, [ca_cert], enc)
        _write(tmp / ROLE_FILES[role], p12, 0o600)
        _write(tmp / f"{role}.pem", _pem(cert))
    os.replace(tmp, out)  # a school's folder appears whole or not at all


def _make_pki(dir: Path, *, schools: list[School], passphrase: str, key_type: KeyType) -> dict:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    enc = serialization.BestAvailableEncryption(passphrase.encode())

    ca_key = _new_key(key_type)
    ca_cert = _make_ca(ca_key, now, f" {schools[0].code}" if len(schools) == 1 else "")
    for school in schools:
        _make_school(dir, school, ca_key, ca_cert, passphrase, key_type)
    _write(dir / CA_KEY, ca_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              enc), 0o600)
    _write(dir / CA_PEM, _pem(ca_cert))  # last: its presence means the PKI is complete
    return describe_pki(dir) | {"key_type": key_type}


def describe_pki(dir: Path) -> dict:
    """The certificates of a PKI made by :func:`init_pki`: paths, subjects, fingerprints, validity; each
    school's with its ``school_code``."""
    dir = Path(dir).expanduser().resolve()
    if not (dir / CA_PEM).exists():
        raise ConfigError(f"PKI: no CA at {dir / CA_PEM}; run `hocba pki init`")
    ca = x509.load_pem_x509_certificate((dir / CA_PEM).read_bytes())
    certs = [describe(ca, "ca", dir / CA_PEM).to_dict()]
    for code in school_codes(dir):
        for role in ROLES:
            pem = dir / code / f"{role}.pem"
            if pem.exists():
                certs.append(describe(x509.load_pem_x509_certificate(pem.read_bytes()), role, pem).to_dict()
                             | {"school_code": code})
    files = [p.relative_to(dir) for p in dir.rglob("*") if p.is_file()]
    return {"dir": str(dir), "certificates": certs, "schools": school_codes(dir),
            "files": sorted(str(f) for f in files if not any(part.startswith(".") for part in f.parts))}


def ensure_pki(dir: Path, *, passphrase: str, schools: Sequence[School | str] = (DEMO_SCHOOL,),
               key_type: KeyType = "rsa") -> dict:
    """The PKI under ``dir`` with keys for every one of ``schools``: made first if there is none, and the
    schools that have no keys yet added to it (demo and tests; never replaces a CA or a school's keys)."""
    dir = Path(dir).expanduser().resolve()
    wanted = _schools(schools)
    if not (dir / CA_PEM).exists():
        with _locked(dir):
            if not (dir / CA_PEM).exists():
                return _make_pki(dir, schools=wanted, passphrase=passphrase, key_type=key_type)
    have = set(school_codes(dir))
    missing = [s for s in wanted if s.code not in have]
    if missing:
        try:
            return add_schools(dir, schools=missing, passphrase=passphrase)
        except ConfigError:
            if not all(s.code in school_codes(dir) for s in missing):  # not another process's doing
                raise
    return describe_pki(dir)
