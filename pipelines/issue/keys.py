"""Each school's signing keys — its seal and its principal's — chosen by school code, loaded once per process.

One pair per school: a record is sealed by its own school, never by another's. Two sources, chosen by
settings: PKCS#12 files (``<keys_dir>/<school_code>/school.p12`` and ``principal.p12``; development:
made by ``hocba pki init --school-code …``) or a PKCS#11 token (production: a CA-issued token or HSM;
``HOCBA_PKCS11_MODULE`` set), where the key labels (or the token label) carry ``{school_code}``.
A school without a key is :class:`SchoolKeyMissing`, naming the school and where the key was looked
for. Either way a :class:`SigningKey` gives pyHanko a signer for PDFs and signxml a key object for XML.

Loading is the expensive part, so it happens once: parsing an RSA key validates it (~45 ms), and
pyHanko's ``SimpleSigner`` re-parses its key on *every* signature — :class:`_CachedKeySigner` keeps the
parsed key instead. A token session is opened once per process and token (and per pid: a forked child
opens its own, PKCS#11 sessions do not survive fork).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.sign.attributes import (
    CMSAttributeProvider,
    SignedAttributeProviderSpec,
    SigningCertificateV2Provider,
)
from pyhanko.sign.general import as_signing_certificate_v2
from pyhanko.sign.signers import Signer, SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore

from pipelines.errors import ConfigError
from pipelines.issue.errors import SchoolKeyMissing, SigningKeyError
from pipelines.issue.pki import ROLE_FILES, fingerprint, school_dir, subject_of
from pipelines.settings import Settings, get_settings

log = logging.getLogger(__name__)

ROLES = ("school", "principal")
ROLE_VI = {"school": "con dấu của trường", "principal": "chữ ký của hiệu trưởng"}


@dataclass(frozen=True)
class SigningKey:
    """One signer: its certificate, a pyHanko signer (PDF) and a key signxml can use (XML)."""

    name: str  # "school" | "principal"
    certificate: x509.Certificate
    pyhanko_signer: Signer
    xml_key: Any  # a cryptography private key, or a token proxy with sign() / public_key()
    chain: tuple[x509.Certificate, ...]  # the signer's certificate first, then its issuers

    @property
    def is_ec(self) -> bool:
        return isinstance(self.certificate.public_key(), ec.EllipticCurvePublicKey)

    @property
    def subject(self) -> str:
        return subject_of(self.certificate)

    @property
    def sha256(self) -> str:
        return fingerprint(self.certificate)

    def summary(self) -> dict:
        """Role, subject and fingerprint: what the ledger keeps about a signer."""
        return {"role": self.name, "subject": self.subject, "sha256": self.sha256}


@dataclass(frozen=True)
class SigningKeys:
    """One school's pair: its seal and its principal."""

    school: SigningKey
    principal: SigningKey
    school_code: str

    @property
    def pdf_order(self) -> tuple[SigningKey, SigningKey]:
        """The principal signs first, then the school seals."""
        return (self.principal, self.school)

    def summaries(self) -> list[dict]:
        return [k.summary() for k in self.pdf_order]

    def for_school(self, school_code: str) -> SigningKeys:
        """These keys when they are ``school_code``'s; else :class:`SchoolKeyMissing` (a caller holding
        one school's pair can stand where every school's keys are expected, e.g. in a test)."""
        if school_code != self.school_code:
            raise SchoolKeyMissing(school_code, f"only the keys of school {self.school_code} were given")
        return self


class _FrozenAttribute(CMSAttributeProvider):
    """A signed attribute whose value never changes for a signer, kept in its encoded (parsed) form."""

    def __init__(self, attribute_type: str, value: Any):
        self.attribute_type = attribute_type
        self._value = value

    async def build_attr_value(self, dry_run: bool = False) -> Any:
        return self._value


class _FrozenSpec(SignedAttributeProviderSpec):
    def __init__(self, inner: SignedAttributeProviderSpec, frozen: _FrozenAttribute):
        self._inner, self._frozen = inner, frozen

    def signed_attr_providers(self, data_digest: bytes, digest_algorithm: str):
        for prov in self._inner.signed_attr_providers(data_digest, digest_algorithm):
            yield self._frozen if isinstance(prov, SigningCertificateV2Provider) else prov


class _FastAttributes:
    """Build the signing-certificate-v2 attribute once per signer, not once per signature.

    asn1crypto re-encodes a freshly built structure at every level each time it is dumped, and this
    attribute nests the issuer's name deeply: ~10 ms of a ~15 ms PDF signature went there (measured).
    Loaded back from DER it dumps in microseconds, and its content depends on the certificate only.
    """

    _frozen_scv2: tuple[Any, _FrozenAttribute] | None = None

    def _signed_attr_provider_spec(self, *args, **kwargs):
        spec = super()._signed_attr_provider_spec(*args, **kwargs)  # type: ignore[misc]
        cert = self.signing_cert  # type: ignore[attr-defined]
        if self._frozen_scv2 is None or self._frozen_scv2[0] is not cert:
            value = tsp.SigningCertificateV2.load(as_signing_certificate_v2(cert).dump())
            self._frozen_scv2 = (cert, _FrozenAttribute("signing_certificate_v2", value))
        return _FrozenSpec(spec, self._frozen_scv2[1])


class _CachedKeySigner(_FastAttributes, SimpleSigner):
    """pyHanko's in-memory signer, without re-parsing the private key for each signature."""

    def __init__(self, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, **kwargs):
        super().__init__(**kwargs)
        self._key = key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        algo = mechanism.signature_algo
        hash_algo = getattr(hashes, digest_algorithm.upper())()
        if algo == "rsassa_pkcs1v15" and isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), hash_algo)
        if algo == "ecdsa" and isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(hash_algo))
        return super().sign_raw(data, digest_algorithm)  # other mechanisms: pyHanko's own path


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _check_validity(role: str, cert: x509.Certificate, where: str) -> None:
    now = dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise ConfigError(
            f"khóa ký / signing key '{role}' ({where}): certificate valid "
            f"{cert.not_valid_before_utc:%Y-%m-%d} – {cert.not_valid_after_utc:%Y-%m-%d}, not now; "
            "renew it (development: `hocba pki init --force`)")


def _issuers(cert: x509.Certificate, pool: list[x509.Certificate]) -> list[x509.Certificate]:
    """The issuing chain of ``cert`` found in ``pool`` (closest issuer first), stopping at a root."""
    chain, cur = [], cert
    while cur.issuer != cur.subject:
        nxt = next((c for c in pool if c.subject == cur.issuer and c not in chain), None)
        if nxt is None:
            break
        chain.append(nxt)
        cur = nxt
    return chain


# --- PKCS#12 ----------------------------------------------------------------------------------------
def _p12_path(settings: Settings, school_code: str, role: str) -> Path:
    return school_dir(settings.keys_root, school_code) / ROLE_FILES[role]


def _from_p12(role: str, path: Path, passphrase: str, school_code: str) -> SigningKey:
    what = f"khóa ký / signing key '{role}' of school {school_code}"
    if not path.exists():
        legacy = path.parent.parent / ROLE_FILES[role]
        raise SchoolKeyMissing(school_code, str(path), (
            f"{legacy} is the old one-pair layout: move that school's school.p12 and principal.p12 into "
            f"{path.parent}/") if legacy.exists() else "")
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(path.read_bytes(), passphrase.encode())
    except ValueError as exc:
        raise ConfigError(f"{what}: cannot open {path} ({exc}); check HOCBA_PKI_PASSPHRASE") from exc
    if key is None or cert is None:
        raise ConfigError(f"{what}: {path} holds no key and certificate")
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{what}: {path}: only RSA and EC keys are supported")
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        raise ConfigError(f"{what}: {path}: the private key is not the certificate's")
    _check_validity(role, cert, str(path))
    chain = (cert, *_issuers(cert, list(extra)))
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    signer = _CachedKeySigner(
        key, signing_cert=_asn1_cert(cert), signing_key=asn1_keys.PrivateKeyInfo.load(der),
        cert_registry=SimpleCertificateStore.from_certs([_asn1_cert(c) for c in chain[1:]]),
        embed_roots=False)
    return SigningKey(name=role, certificate=cert, pyhanko_signer=signer, xml_key=key, chain=chain)


# --- PKCS#11 ----------------------------------------------------------------------------------------
class TokenKey:
    """A private key on a PKCS#11 token, shaped like a ``cryptography`` key for signxml.

    signxml calls ``sign(data, padding=PKCS1v15(), algorithm=SHA256())`` for RSA and
    ``sign(data, signature_algorithm=ECDSA(SHA256()))`` for EC, reads ``key_size`` / ``curve``, and
    ``public_key()`` for the KeyValue element. The token hashes and signs (RSA: CKM_SHA256_RSA_PKCS);
    EC keys are hashed here and signed with raw CKM_ECDSA (SoftHSM has no hashing ECDSA mechanisms).
    """

    def __init__(self, handle: Any, public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        self._handle = handle
        self._public = public_key

    def public_key(self):
        return self._public

    @property
    def key_size(self) -> int:
        return self._public.key_size

    @property
    def curve(self):
        return self._public.curve  # EC only, like cryptography's

    def sign(self, data: bytes, *args, **kwargs) -> bytes:
        from pkcs11 import Mechanism

        algo = kwargs.get("algorithm") or kwargs.get("signature_algorithm") or (args[-1] if args else None)
        if isinstance(algo, ec.ECDSA):
            algo = algo.algorithm
        if not isinstance(algo, hashes.SHA256):
            raise ValueError(f"token key: only SHA-256 signatures are implemented, not {algo!r}")
        if isinstance(self._public, rsa.RSAPublicKey):
            if not isinstance(kwargs.get("padding", args[0] if args else None), padding.PKCS1v15):
                raise ValueError("token key: RSA signatures use PKCS#1 v1.5 padding")
            return self._handle.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS)
        raw = self._handle.sign(hashlib.sha256(data).digest(), mechanism=Mechanism.ECDSA)
        half = len(raw) // 2
        r, s = int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
        return utils.encode_dss_signature(r, s)


def _token_signer_class():
    from pyhanko.sign.pkcs11 import PKCS11Signer, select_pkcs11_signing_params

    class _TokenSigner(_FastAttributes, PKCS11Signer):
        """pyHanko's PKCS#11 signer, signing in the calling thread.

        pyHanko hands each token call to asyncio's default executor, and every ``sign_pdf`` runs a new
        event loop, so each signature started a thread pool (~20 ms per signature, measured). One
        signature at a time per process is what the stage does anyway.
        """

        handle: Any = None

        async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
            if dry_run or self.handle is None:
                return await super().async_sign_raw(data, digest_algorithm, dry_run=dry_run)
            spec = select_pkcs11_signing_params(
                self.get_signature_mechanism_for_digest(digest_algorithm.lower()), digest_algorithm.lower(),
                use_raw_mechanism=self.use_raw_mechanism, sign_kwargs=self.sign_kwargs(data))
            if spec.pre_sign_transform is not None:
                data = spec.pre_sign_transform(data)
            signature = self.handle.sign(data, **spec.sign_kwargs)
            return spec.post_sign_transform(signature) if spec.post_sign_transform else signature

    return _TokenSigner


PLACEHOLDER = "{school_code}"
_LABEL_SETTINGS = {"school": "HOCBA_PKCS11_SCHOOL_KEY_LABEL", "principal": "HOCBA_PKCS11_PRINCIPAL_KEY_LABEL"}


def _fill(template: str | None, school_code: str) -> str | None:
    return None if template is None else template.replace(PLACEHOLDER, school_code)


def token_labels(settings: Settings, school_code: str) -> tuple[str | None, dict[str, str]]:
    """(token label, role → key label) of ``school_code``'s keys: the settings' labels with
    ``{school_code}`` filled in. One key per school, so at least one of them must hold it."""
    templates = [settings.pkcs11_token_label or "", settings.pkcs11_school_key_label,
                 settings.pkcs11_principal_key_label]
    if not any(PLACEHOLDER in t for t in templates):
        raise ConfigError(
            "PKCS#11: one signing key per school, so the key labels (HOCBA_PKCS11_SCHOOL_KEY_LABEL, "
            "HOCBA_PKCS11_PRINCIPAL_KEY_LABEL) or the token label (HOCBA_PKCS11_TOKEN_LABEL) must contain "
            f"{PLACEHOLDER}, e.g. school-{PLACEHOLDER}; now every school would sign with the same key")
    return _fill(settings.pkcs11_token_label, school_code), {
        "school": str(_fill(settings.pkcs11_school_key_label, school_code)),
        "principal": str(_fill(settings.pkcs11_principal_key_label, school_code))}


def _from_token(settings: Settings, school_code: str) -> SigningKeys:
    from pkcs11 import Attribute, ObjectClass
    from pkcs11.exceptions import PKCS11Error as LibError
    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.sign.general import SigningError
    from pyhanko.sign.pkcs11 import PKCS11Error, open_pkcs11_session

    module = settings.pkcs11_module
    token_label, labels = token_labels(settings, school_code)
    where = f"PKCS#11 {module} token {token_label or '(first)'}"
    if not Path(module).exists():
        raise ConfigError(f"{where}: module file missing (setting HOCBA_PKCS11_MODULE)")
    if not settings.pkcs11_pin:
        raise ConfigError(f"{where}: no PIN (setting HOCBA_PKCS11_PIN)")
    # PKCS#11 logs in per application and token, not per session: one session per token and process.
    skey = (os.getpid(), module, token_label)
    opened = _sessions.get(skey)
    if opened is not None and opened[1] != settings.pkcs11_pin:
        raise ConfigError(f"{where}: already open in this process with another PIN")
    try:
        if opened is None:
            session = open_pkcs11_session(
                module, token_criteria=TokenCriteria(label=token_label), user_pin=settings.pkcs11_pin)
            opened = _sessions[skey] = (session, settings.pkcs11_pin)
        session = opened[0]
        certs = [x509.load_der_x509_certificate(o[Attribute.VALUE])
                 for o in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE})]
    except (PKCS11Error, LibError) as exc:
        raise ConfigError(f"{where} (school {school_code}): cannot open ({type(exc).__name__}: {exc}); "
                          "check the token label and PIN") from exc
    authorities = [c for c in certs if _is_ca(c)]
    out = {}
    for role in ROLES:
        label = labels[role]
        try:
            obj = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
            cert_obj = next(iter(session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE,
                                                      Attribute.LABEL: label})), None)
        except (LibError, PKCS11Error) as exc:
            raise SchoolKeyMissing(school_code, f"{where}, private key labelled '{label}'", (
                f"no such key for the {role} ({type(exc).__name__}); setting {_LABEL_SETTINGS[role]}")
            ) from exc
        if cert_obj is None:
            raise SchoolKeyMissing(school_code, f"{where}, certificate labelled '{label}'",
                                   f"no certificate for the {role}; setting {_LABEL_SETTINGS[role]}")
        cert = x509.load_der_x509_certificate(cert_obj[Attribute.VALUE])
        _check_validity(role, cert, where)
        chain = (cert, *_issuers(cert, authorities))
        is_ec = isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
        signer = _token_signer_class()(session, key_label=label, signing_cert=_asn1_cert(cert),
                                       ca_chain=[_asn1_cert(c) for c in chain[1:]], use_raw_mechanism=is_ec,
                                       embed_roots=False)
        signer.handle = obj
        try:
            signer._load_objects()  # fail now, with a clear message, not at the first signature
        except (PKCS11Error, SigningError) as exc:
            raise ConfigError(f"{where}: key '{label}' for the {role}: {exc}") from exc
        out[role] = SigningKey(name=role, certificate=cert, pyhanko_signer=signer,
                               xml_key=TokenKey(obj, cert.public_key()), chain=chain)
    log.info("signing keys of school %s: PKCS#11 token %s", school_code, token_label or "(first)")
    return SigningKeys(**out, school_code=school_code)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


# --- the per-process cache ----------------------------------------------------------------------------
_cache: dict[tuple, SigningKeys] = {}
_sessions: dict[tuple, tuple[Any, str]] = {}  # (pid, module, token label) → (session, PIN)
_lock = threading.Lock()
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _cache_key(settings: Settings, school_code: str) -> tuple:
    if settings.pkcs11_module:
        return ("pkcs11", os.getpid(), school_code, settings.pkcs11_module, settings.pkcs11_token_label,
                settings.pkcs11_pin, settings.pkcs11_school_key_label, settings.pkcs11_principal_key_label)
    # The files' identity is part of the key: `hocba pki init --force` in a running process takes effect.
    files = []
    for role in ROLES:
        path = _p12_path(settings, school_code, role)
        try:
            st = path.stat()
            files.append((str(path), st.st_mtime_ns, st.st_size, st.st_ino))
        except FileNotFoundError:
            files.append((str(path), None))
    return ("p12", school_code, settings.pki_passphrase, *files)


def where_keys_are(school_code: str, settings: Settings | None = None) -> str:
    """Where the keys of ``school_code`` are looked for (for messages and `hocba pki`)."""
    settings = settings or get_settings()
    if settings.pkcs11_module:
        token, labels = token_labels(settings, school_code)
        return (f"PKCS#11 {settings.pkcs11_module} token {token or '(first)'}, key labels "
                f"{labels['school']}, {labels['principal']}")
    return str(school_dir(settings.keys_root, school_code))


def signing_keys(school_code: str, settings: Settings | None = None) -> SigningKeys:
    """The keys of school ``school_code`` (its seal and its principal), from the token or the PKCS#12
    files the settings name.

    Loaded once per process, school and settings; a school without keys is :class:`SchoolKeyMissing`
    (a :class:`ConfigError`) naming the school and where the keys were looked for.
    """
    settings = settings or get_settings()
    if not _CODE.fullmatch(school_code or ""):
        raise SigningKeyError(f"school code {school_code!r} cannot name a signing key: letters, digits, '.', "
                              "'_' and '-' expected (the school's inbox folder, its ma_truong)")
    key = _cache_key(settings, school_code)
    with _lock:
        keys = _cache.get(key)
        if keys is None:
            if settings.pkcs11_module:
                keys = _from_token(settings, school_code)
            else:
                keys = SigningKeys(**{r: _from_p12(r, _p12_path(settings, school_code, r),
                                                   settings.pki_passphrase, school_code) for r in ROLES},
                                   school_code=school_code)
                log.info("signing keys of school %s: PKCS#12 files under %s", school_code,
                         _p12_path(settings, school_code, "school").parent)
            _cache[key] = keys
        return keys


@dataclass(frozen=True)
class SchoolKeys:
    """Every school's keys by school code, as the settings say where they are (loaded on first use)."""

    settings: Settings

    def for_school(self, school_code: str) -> SigningKeys:
        return signing_keys(school_code, self.settings)


def school_keys(settings: Settings | None = None) -> SchoolKeys:
    """The key source the issue stage uses: ``.for_school(code)`` gives that school's pair."""
    return SchoolKeys(settings or get_settings())


def clear_cache() -> None:
    """Forget loaded keys (tests; after replacing a token)."""
    with _lock:
        _cache.clear()
        for session, _ in _sessions.values():
            with contextlib.suppress(Exception):  # a token removed meanwhile: nothing left to close
                session.close()
        _sessions.clear()
