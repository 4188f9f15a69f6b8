"""Verify an issued record (signed PDF or signed XML): signatures, trust, integrity, schema, ledger.

A file verifies when every signature is intact and valid, chains to one of the trust roots, nothing
was changed after signing, the record it carries satisfies the record XSD, and — when a ledger is
given — the ledger lists exactly this file as the record's *current* version.

PDF: pyHanko's validation with its difference analysis, never ``pdfsig`` alone (poppler calls a PDF
whose page content was replaced by an unsigned incremental update "valid"; docs: "Signing: what we
measured"). Each signature must be intact, trusted, and followed only by changes its DocMDP policy
allows (further signatures, form filling); the last one must cover the whole file. The embedded
``hocba-record.xml`` is checked against the XSD and, when signed, verified as an XML record too.

XML: the XAdES signature is verified by signxml against the trust roots; it must be the root's last
child and reference the whole document (``URI=""``). Comments and processing instructions are refused:
C14N without comments ignores them, so they could change what a reader sees without breaking the
signature.

Offline by design: no certificate or revocation fetching (the trust roots are given; a district
server verifying its own output must not depend on the network). Messages are bilingual "vi / en"
and never quote record values.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from io import BytesIO
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from lxml import etree

from pipelines.errors import ConfigError
from pipelines.issue.errors import RecordInvalid
from pipelines.issue.pki import subject_of

DS = "http://www.w3.org/2000/09/xmldsig#"
ATTACHMENT = "hocba-record.xml"
Kind = Literal["pdf", "xml"]


class ProblemCode(StrEnum):
    """Why a file does not verify, for machines (``Problem.message`` says it for people)."""

    unreadable = "unreadable"
    """The file cannot be read, or is no well-formed PDF or XML."""
    not_signed = "not_signed"
    signature_invalid = "signature_invalid"
    """A signature does not match the bytes it signs, or cannot be validated at all."""
    untrusted = "untrusted"
    """A signing certificate does not chain to a trust root (or is revoked)."""
    timestamp_invalid = "timestamp_invalid"
    not_covered = "not_covered"
    """Part of the file lies outside what the signatures cover (appended changes, XML comments, a
    signature that does not reference the whole document)."""
    modified_after_signing = "modified_after_signing"
    """Changes after signing that the signature's DocMDP policy does not allow."""
    record_invalid = "record_invalid"
    """The record fails the XSD, has no record id, or the PDF carries no record XML."""
    not_in_ledger = "not_in_ledger"
    ledger_mismatch = "ledger_mismatch"
    """The ledger lists the file under another record or version than the file says."""
    not_current = "not_current"
    """The ledger lists the file as superseded or revoked."""


@dataclass(frozen=True)
class Problem:
    code: ProblemCode
    message: str
    """Bilingual "vi / en", never quoting record values."""


@dataclass(frozen=True)
class Verdict:
    """What ``hocba verify`` says about one file. ``ok`` only when ``problems`` is empty."""

    file: str
    kind: Kind
    record_id: str | None = None
    version: int | None = None
    ledger_status: str | None = None
    """current | superseded | revoked | unknown; None: no ledger asked."""
    problems: tuple[Problem, ...] = ()
    signers: tuple[str, ...] = ()
    """Subjects of the signing certificates, in order."""

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def messages(self) -> list[str]:
        return [p.message for p in self.problems]

    @property
    def codes(self) -> list[ProblemCode]:
        return [p.code for p in self.problems]

    def line(self) -> str:
        """One line for the console: ``OK  file  record v2 (current)`` or ``FAIL file  reasons``."""
        if self.ok:
            what = f"{self.record_id} v{self.version}" if self.record_id else "?"
            status = f" ({self.ledger_status})" if self.ledger_status else " (ledger not checked)"
            return f"OK    {self.file}  {what}{status}"
        return f"FAIL  {self.file}  " + "; ".join(self.messages)

    def to_dict(self) -> dict:
        """For ``hocba verify --json``: ``problems`` the messages, ``problem_codes`` their codes."""
        return {"file": self.file, "kind": self.kind, "ok": self.ok, "record_id": self.record_id,
                "version": self.version, "ledger_status": self.ledger_status, "problems": self.messages,
                "problem_codes": [str(c) for c in self.codes], "signers": list(self.signers)}


@dataclass
class _Draft:
    """A verdict while the checks run (they add problems and learn the record id); ``freeze`` ends it."""

    file: str
    kind: Kind
    record_id: str | None = None
    version: int | None = None
    ledger_status: str | None = None
    problems: list[Problem] = field(default_factory=list)
    signers: list[str] = field(default_factory=list)

    def add(self, code: ProblemCode, message: str) -> None:
        self.problems.append(Problem(code, message))

    def freeze(self) -> Verdict:
        return Verdict(self.file, self.kind, self.record_id, self.version, self.ledger_status,
                       tuple(self.problems), tuple(self.signers))


# --- trust roots ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrustRoots:
    certs: tuple[x509.Certificate, ...]

    @property
    def asn1(self) -> list:
        from asn1crypto import x509 as asn1_x509
        from cryptography.hazmat.primitives.serialization import Encoding

        return [asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in self.certs]


_trust_cache: dict[tuple, TrustRoots] = {}
_trust_lock = threading.Lock()


def load_trust_roots(paths: Iterable[Path | str]) -> TrustRoots:
    """The certificates in the PEM files ``paths`` (cached per file version)."""
    key = []
    for p in paths:
        path = Path(p).expanduser()
        try:
            st = path.stat()
        except FileNotFoundError:
            raise ConfigError(f"trust root {path} không có / missing: run `hocba pki init` (development) "
                              "or set HOCBA_TRUST_ROOTS to the CA certificates (PEM) to trust") from None
        key.append((str(path.resolve()), st.st_mtime_ns, st.st_size))
    if not key:
        raise ConfigError("no trust roots given (setting HOCBA_TRUST_ROOTS)")
    with _trust_lock:
        roots = _trust_cache.get(tuple(key))
        if roots is None:
            certs: list[x509.Certificate] = []
            for path, *_ in key:
                try:
                    certs.extend(x509.load_pem_x509_certificates(Path(path).read_bytes()))
                except ValueError as exc:
                    raise ConfigError(f"trust root {path}: not a PEM certificate file ({exc})") from exc
            roots = _trust_cache[tuple(key)] = TrustRoots(tuple(certs))
        return roots


def signer_problems(certificate: x509.Certificate, chain: Iterable[x509.Certificate],
                    trust_roots: Iterable[Path | str] | TrustRoots) -> list[str]:
    """Why documents signed with ``certificate`` would not verify against ``trust_roots`` (empty: they
    would, as far as the certificate goes): no path to a root through ``chain`` (the signer's own
    certificate and the intermediates a signature carries), not valid now, or key usage without
    digital signature and non-repudiation. The same checks as a PDF signature's; offline."""
    import asyncio

    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from pyhanko_certvalidator import CertificateValidator, ValidationContext
    from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError, ValidationError

    roots = trust_roots if isinstance(trust_roots, TrustRoots) else load_trust_roots(trust_roots)

    def asn1(c: x509.Certificate) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(c.public_bytes(Encoding.DER))

    vc = ValidationContext(trust_roots=roots.asn1, allow_fetching=False, revocation_mode="soft-fail")
    validator = CertificateValidator(asn1(certificate), [asn1(c) for c in chain if c != certificate],
                                     validation_context=vc)
    try:
        asyncio.run(validator.async_validate_usage({"digital_signature", "non_repudiation"}))
    except PathBuildingError:
        return ["chứng thư không dẫn tới CA tin cậy nào / the certificate does not chain to any trust root"]
    except (PathValidationError, ValidationError) as exc:
        return [f"chứng thư không hợp lệ / the certificate is not valid for signing ({exc})"]
    return []


# --- XML ---------------------------------------------------------------------------------------------------
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=False,
                          remove_pis=False)


_verifier_class: type | None = None


def _xml_verifier(roots: TrustRoots):
    """signxml's XAdES verifier, trusting ``roots`` (it only takes one CA file name otherwise)."""
    global _verifier_class
    if _verifier_class is None:
        from signxml.util import X509CertChainVerifier
        from signxml.xades import XAdESVerifier

        class _Chain(X509CertChainVerifier):
            roots: TrustRoots

            @property
            def store(self):
                return x509.verification.Store(list(self.roots.certs))

        class _Verifier(XAdESVerifier):
            roots: TrustRoots

            def get_cert_chain_verifier(self, ca_pem_file, ee_policy, ca_policy):
                chain = _Chain(ca_pem_file="-", verification_time=self._get_cert_verification_time(),
                               ee_policy=ee_policy, ca_policy=ca_policy)
                chain.roots = self.roots
                return chain

        _verifier_class = _Verifier
    verifier = _verifier_class()
    verifier.roots = roots
    return verifier


def _parse(xml: bytes) -> etree._Element | None:
    try:
        return etree.fromstring(xml, parser=_PARSER)
    except etree.XMLSyntaxError:
        return None


def _verify_xml_signature(xml: bytes, roots: TrustRoots) -> tuple[list[Problem], list[str]]:
    """(problems, signer subjects) of an enveloped XAdES-signed record."""
    import base64

    from signxml.exceptions import InvalidCertificate, InvalidInput, SignXMLException
    from signxml.xades import XAdESSignatureConfiguration

    root = _parse(xml)
    if root is None:
        return [Problem(ProblemCode.unreadable, "XML hỏng / not well-formed XML")], []
    if any(True for _ in root.iter(etree.Comment, etree.ProcessingInstruction)):
        return [Problem(ProblemCode.not_covered, "XML có chú thích hoặc chỉ thị xử lý (không được ký) / XML "
                        "has comments or processing instructions, which the signature does not cover")], []
    sigs = root.findall(f".//{{{DS}}}Signature")
    if not sigs:
        return [Problem(ProblemCode.not_signed, "XML không có chữ ký / XML is not signed")], []
    if len(sigs) != 1 or root[-1] is not sigs[0]:
        return [Problem(ProblemCode.not_covered, "chữ ký XML không đúng vị trí / the XML signature must be "
                        "the root's last child, and the only one")], []
    refs = sigs[0].findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    if sum(1 for r in refs if r.get("URI") == "") != 1:
        return [Problem(ProblemCode.not_covered, "chữ ký XML không bao trùm toàn bộ tài liệu / the XML "
                        "signature does not reference the whole document (URI=\"\")")], []
    try:
        _xml_verifier(roots).verify(
            xml, expect_config=XAdESSignatureConfiguration(location="./", expect_references=3))
    except InvalidCertificate as exc:
        return [Problem(ProblemCode.untrusted, f"chữ ký XML: chứng thư không thuộc CA tin cậy / XML "
                        f"signature: certificate does not chain to a trusted root ({exc})")], []
    except (SignXMLException, InvalidInput, ValueError) as exc:
        return [Problem(ProblemCode.signature_invalid,
                        f"chữ ký XML không hợp lệ / XML signature invalid ({type(exc).__name__}: {exc})")], []
    # signxml checked that a certificate of KeyInfo made the signature and chains to a root; the
    # signer's own certificate comes first there (as sign_xml writes it).
    b64 = sigs[0].findtext(f"{{{DS}}}KeyInfo/{{{DS}}}X509Data/{{{DS}}}X509Certificate")
    signers = [subject_of(x509.load_der_x509_certificate(base64.b64decode(b64)))] if b64 else []
    return [], signers


def _record_checks(xml: bytes, verdict: _Draft, label: str = "") -> None:
    # Lazy: the record schema loads the data contracts (~3 s); `hocba verify` starts in 0.2 s without it.
    from pipelines.issue.record import record_id_of, validate_record_xml

    try:
        validate_record_xml(xml)
    except RecordInvalid as exc:
        shown = "; ".join(exc.errors[:3]) + (" …" if len(exc.errors) > 3 else "")
        verdict.add(ProblemCode.record_invalid, f"{label}hồ sơ không đúng lược đồ / record fails the XSD: "
                    f"{shown}")
    try:
        verdict.record_id, verdict.version = record_id_of(xml)
    except RecordInvalid as exc:
        verdict.add(ProblemCode.record_invalid,
                    f"{label}không đọc được mã hồ sơ / no record id: {'; '.join(exc.errors)}")


def _verify_xml(data: bytes, verdict: _Draft, roots: TrustRoots) -> None:
    problems, signers = _verify_xml_signature(data, roots)
    verdict.problems.extend(problems)
    verdict.signers.extend(signers)
    if not problems:  # a record is read only from a document whose signature holds
        _record_checks(data, verdict)


# --- PDF ---------------------------------------------------------------------------------------------------
def _embedded_files(reader) -> dict[str, bytes]:
    """name → bytes of the document-level embedded files (walks the name tree; a file is listed under
    its name-tree key and its /UF and /F file names)."""
    out: dict[str, bytes] = {}
    try:
        tree = reader.root["/Names"]["/EmbeddedFiles"]
    except KeyError:
        return out

    def walk(node, depth: int = 0) -> None:
        if depth > 16:
            return
        if "/Names" in node:
            arr = node["/Names"]
            for i in range(0, len(arr) - 1, 2):
                spec = arr[i + 1].get_object()
                try:
                    data = spec["/EF"]["/F"].get_object().data
                except KeyError:
                    continue
                for name in (arr[i], spec.get("/UF"), spec.get("/F")):
                    if name is not None:
                        out.setdefault(str(name), data)
        for kid in node.get("/Kids", []):
            walk(kid.get_object(), depth + 1)

    walk(tree.get_object())
    return out


def _signature_problems(name: str, status: Any, last: bool) -> list[Problem]:
    from pyhanko.sign.validation import SignatureCoverageLevel

    p: list[Problem] = []
    if not status.intact:
        p.append(Problem(ProblemCode.signature_invalid, f"chữ ký {name}: nội dung đã bị thay đổi / signature "
                         f"{name}: document digest does not match"))
    elif not status.valid:
        p.append(Problem(ProblemCode.signature_invalid, f"chữ ký {name}: không hợp lệ / signature {name}: "
                         "cryptographically invalid"))
    if not status.trusted:
        p.append(Problem(ProblemCode.untrusted, f"chữ ký {name}: chứng thư không thuộc CA tin cậy / "
                         f"signature {name}: certificate does not chain to a trusted root"
                         + (" (revoked)" if getattr(status, "revoked", False) else "")))
    ts = status.timestamp_validity
    if ts is not None and not (ts.intact and ts.valid and ts.trusted):
        p.append(Problem(ProblemCode.timestamp_invalid, f"chữ ký {name}: dấu thời gian không hợp lệ / "
                         f"signature {name}: timestamp not valid or not trusted"))
    if last and status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        p.append(Problem(ProblemCode.not_covered, f"chữ ký {name}: có thay đổi sau chữ ký cuối / signature "
                         f"{name}: does not cover the whole file (changes were appended after the last "
                         "signature)"))
    elif status.coverage not in (SignatureCoverageLevel.ENTIRE_FILE, SignatureCoverageLevel.ENTIRE_REVISION):
        p.append(Problem(ProblemCode.not_covered, f"chữ ký {name}: không bao trùm phiên bản đã ký / "
                         f"signature {name}: does not cover its revision"))
    level = status.modification_level
    if level is None or not status.docmdp_ok:
        what = level.name if level is not None else "unknown"
        p.append(Problem(ProblemCode.modified_after_signing, f"chữ ký {name}: tài liệu bị sửa sau khi ký / "
                         f"signature {name}: document modified after signing ({what})"))
    if not p and not status.bottom_line:
        p.append(Problem(ProblemCode.signature_invalid, f"chữ ký {name}: {status.summary()}"))
    return p


def _verify_pdf(data: bytes, verdict: _Draft, roots: TrustRoots) -> None:
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.settings import KeyUsageConstraints
    from pyhanko_certvalidator import ValidationContext

    try:
        reader = PdfFileReader(BytesIO(data))  # strict: no hybrid-reference tricks
        sigs = reader.embedded_signatures
    except (PdfError, ValueError, KeyError, IndexError) as exc:
        verdict.add(ProblemCode.unreadable, f"PDF hỏng / unreadable PDF ({type(exc).__name__}: {exc})")
        return
    if not sigs:
        verdict.add(ProblemCode.not_signed, "PDF không có chữ ký / the PDF is not signed")
        return
    vc = ValidationContext(trust_roots=roots.asn1, allow_fetching=False, revocation_mode="soft-fail")
    usage = KeyUsageConstraints(key_usage={"non_repudiation", "digital_signature"})
    for i, sig in enumerate(sigs):
        name = sig.field_name or f"#{i + 1}"
        try:
            status = validate_pdf_signature(sig, signer_validation_context=vc, ts_validation_context=vc,
                                            key_usage_settings=usage)
        except Exception as exc:  # pyHanko raises many kinds on malformed signatures
            verdict.add(ProblemCode.signature_invalid, f"chữ ký {name}: không kiểm tra được / signature "
                        f"{name}: cannot be validated ({type(exc).__name__}: {exc})")
            continue
        verdict.problems.extend(_signature_problems(name, status, last=i == len(sigs) - 1))
        cert = status.signing_cert
        verdict.signers.append(subject_of(x509.load_der_x509_certificate(cert.dump())))
    try:
        attached = _embedded_files(reader).get(ATTACHMENT)
    except (PdfError, KeyError, TypeError, ValueError, AttributeError) as exc:
        verdict.add(ProblemCode.unreadable,
                    f"không đọc được tệp đính kèm / cannot read the attachments ({exc})")
        return
    if attached is None:
        verdict.add(ProblemCode.record_invalid, f"PDF không đính kèm {ATTACHMENT} / no embedded {ATTACHMENT}")
        return
    label = "XML đính kèm / embedded XML: "
    parsed = _parse(attached)
    if parsed is not None and parsed.find(f".//{{{DS}}}Signature") is not None:
        problems, _ = _verify_xml_signature(attached, roots)
        verdict.problems.extend(Problem(p.code, label + p.message) for p in problems)
    _record_checks(attached, verdict, label)


# --- ledger ------------------------------------------------------------------------------------------------
def _ledger(data: bytes, verdict: _Draft, engine) -> None:
    # Lazy: the ledger brings SQLAlchemy and pandas (~5 s); only a check against a ledger needs it.
    from pipelines.issue.ledger import CURRENT, STATUS_VI, lookup

    digest = hashlib.sha256(data).hexdigest()
    found = lookup(engine, **({"pdf_sha256": digest} if verdict.kind == "pdf" else {"xml_sha256": digest}))
    if found is None:
        verdict.ledger_status = "unknown"
        verdict.add(ProblemCode.not_in_ledger, "không có trong sổ cấp phát / not in the ledger (not issued "
                    "by this system, or altered)")
        return
    verdict.ledger_status = found.status
    mine = (verdict.record_id, verdict.version)
    if verdict.record_id is not None and (found.record_id, found.version) != mine:
        verdict.add(ProblemCode.ledger_mismatch, f"sổ ghi {found.record_id} v{found.version}, tệp ghi "
                    f"{verdict.record_id} v{verdict.version} / ledger and file disagree on the record")
    verdict.record_id = verdict.record_id or found.record_id
    verdict.version = verdict.version or found.version
    if found.status != CURRENT:
        verdict.add(ProblemCode.not_current, f"phiên bản này {STATUS_VI.get(found.status, found.status)} / "
                    f"this version is {found.status}")


# --- entry points ------------------------------------------------------------------------------------------
def kind_of(data: bytes, name: str = "") -> Kind | None:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"%PDF-") or b"%PDF-" in data[:1024]:
        return "pdf"
    if head.startswith(b"<"):
        return "xml"
    suffix = Path(name).suffix.lower()
    return "pdf" if suffix == ".pdf" else "xml" if suffix == ".xml" else None


def verify_bytes(data: bytes, *, trust_roots: Iterable[Path | str] | TrustRoots, engine=None,
                 name: str = "<bytes>", kind: Kind | None = None) -> Verdict:
    """Verify a signed record held in memory (the stage checks what it just signed without a re-read)."""
    roots = trust_roots if isinstance(trust_roots, TrustRoots) else load_trust_roots(trust_roots)
    kind = kind or kind_of(data, name)
    verdict = _Draft(file=name, kind=kind or "xml")
    if kind is None:
        verdict.add(ProblemCode.unreadable, "không phải PDF hay XML / neither a PDF nor an XML file")
        return verdict.freeze()
    if kind == "pdf":
        _verify_pdf(data, verdict, roots)
    else:
        _verify_xml(data, verdict, roots)
    if engine is not None:
        _ledger(data, verdict, engine)
    return verdict.freeze()


def verify_file(path: Path | str, *, trust_roots: list[Path], engine=None) -> Verdict:
    """Verify a signed record file (PDF or XML); see the module docstring for what must hold."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Verdict(file=str(path), kind="pdf" if path.suffix.lower() == ".pdf" else "xml",
                       problems=(Problem(ProblemCode.unreadable,
                                         f"không đọc được tệp / cannot read the file ({exc.strerror})"),))
    return verify_bytes(data, trust_roots=trust_roots, engine=engine, name=str(path))
