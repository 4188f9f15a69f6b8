"""Sign an issued record: XAdES on the XML, PAdES on the PDF.

XML: an enveloped XAdES signature (signxml), default canonicalization C14N 1.1 and a root reference
``URI=""``: with exclusive c14n signxml's XAdES output fails its own verifier and xmlsec1, and with a
reference by Id xmlsec1 needs ``--id-attr`` (docs: "Signing: what we measured"). Plain
``xmlsec1 --verify --trusted-pem ca.pem`` then checks all three references and the certificate chain
(KeyInfo carries the certificate only, no bare KeyValue; see ``sign_xml``).

PDF: one incremental PAdES signature per key, principal first. The first is a certification
signature allowing only form filling and signing afterwards (DocMDP P=2), so any later change to
content is flagged by every conforming verifier, not only by ours. PAdES keeps the claimed signing
time in the signature dictionary (/M, inside the signed byte range); the CMS signing-time attribute
is not allowed in PAdES baseline signatures. With a TSA an RFC 3161 signature timestamp is added.

Signing is lean by construction: everything in memory, keys loaded once (``keys.py``), no validation
context at sign time (so no certificate or revocation fetching, no network unless a TSA is set).
Where the time went, measured on a 36 kB record PDF with RSA 2048 keys (two signatures): ~110 ms with
pyHanko's defaults. pyHanko re-parses a PKCS#12 key per signature (``keys._CachedKeySigner``), builds a
whole dummy CMS object per signature to size the placeholder (:func:`_bytes_reserved`: once per key),
and asn1crypto re-encodes the freshly built signing-certificate-v2 attribute recursively each time it
is dumped (``keys._FastAttributes``: built once per signer); the root certificate was embedded in
each signature and parsed back as hex by the next one (left out). Now ~15-20 ms for both signatures
and ~2-3 ms per XAdES signature of the 18 kB XML.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import threading
import weakref
from collections.abc import Sequence
from io import BytesIO

from lxml import etree
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper, TimestampRequestError
from signxml import SignatureMethod
from signxml.xades import XAdESDataObjectFormat, XAdESSigner

from pipelines.issue.errors import SigningError
from pipelines.issue.keys import SigningKey

XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False,
                             huge_tree=False)
REASONS = {
    "principal": "Hiệu trưởng ký xác nhận học bạ số",
    "school": "Đóng dấu của nhà trường",
}
FIELD_PREFIX = "hocba_"


# --- XML ----------------------------------------------------------------------------------------------
def _xml_signer(key: SigningKey) -> XAdESSigner:
    # A new signer per signature: XAdESSigner remembers every Id token it has handed out.
    return XAdESSigner(
        signature_algorithm=SignatureMethod.ECDSA_SHA256 if key.is_ec else SignatureMethod.RSA_SHA256,
        digest_algorithm="sha256",
        data_object_format=XAdESDataObjectFormat(Description="Học bạ số (hocba record)",
                                                 MimeType="application/xml"),
    )


def sign_xml(xml: bytes, key: SigningKey) -> bytes:
    """``xml`` with an enveloped XAdES signature by ``key`` as the root's last child (UTF-8 bytes)."""
    root = etree.fromstring(xml, parser=XML_PARSER)
    if root.get("Id") is not None or root.get("ID") is not None:
        # signxml would reference the root by Id, which plain `xmlsec1 --verify` cannot resolve.
        raise SigningError("the record's root element must not carry an Id/ID attribute")
    # The signer's certificate and intermediates; the root is what the verifier brings (as in the PDF).
    certs = [c for c in key.chain if c.issuer != c.subject] or [key.chain[0]]
    # No KeyValue (signxml's XAdES adds one by default): given a bare key, xmlsec1 verifies with it and
    # never looks at the certificate, so a signature by any key at all "verified" against any CA
    # (measured). With X509Data only, `xmlsec1 --verify --trusted-pem ca.pem` checks the chain.
    signed = _xml_signer(key).sign(root, key=key.xml_key, cert=certs, always_add_key_value=False)
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


# --- PDF ----------------------------------------------------------------------------------------------
_timestampers: dict[str, TimeStamper] = {}
_ts_lock = threading.Lock()


def _timestamper(url: str) -> TimeStamper:
    # One client per URL and process: pyHanko caches the size estimate of a token on it.
    with _ts_lock:
        ts = _timestampers.get(url)
        if ts is None:
            ts = _timestampers[url] = HTTPTimeStamper(url, timeout=15)
        return ts


# signer → {None or weakref(timestamper): size}. Weak, so a size never outlives its objects and an id
# reused by a new object cannot hand it a stale size.
_reserved: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _bytes_reserved(key: SigningKey, ts: TimeStamper | None) -> int:
    """Room for the signature container, estimated once per key and timestamper.

    pyHanko otherwise builds a complete dummy CMS object before every signature just to measure it:
    half the signing time (measured). The size only depends on the certificates and the algorithm,
    plus the TSA's token, which can vary: pyHanko's own 50% margin then. Without a TSA only an ECDSA
    signature varies (by a byte or two), so the margin is small: every reserved byte is written as
    hex and parsed again by each later signature and by the verifier.
    """
    sizes = _reserved.setdefault(key.pyhanko_signer, {})
    cache_key = None if ts is None else weakref.ref(ts)
    size = sizes.get(cache_key)
    if size is None:
        async def estimate() -> int:
            cms = await key.pyhanko_signer.async_sign(
                hashlib.sha256(b"").digest(), "sha256", dry_run=True, use_pades=True, timestamper=ts,
                signed_attr_settings=PdfCMSSignedAttributes(signing_time=dt.datetime.now(dt.UTC)))
            return len(cms.dump()) * 2  # hex in the PDF
        n = asyncio.run(estimate())
        size = sizes[cache_key] = n + 2 * (n // 4) if ts is not None else n + 64
    return size


def _metadata(key: SigningKey, field_name: str, *, certify: bool) -> PdfSignatureMetadata:
    return PdfSignatureMetadata(
        field_name=field_name, md_algorithm="sha256", subfilter=SigSeedSubFilter.PADES,
        reason=REASONS.get(key.name), certify=certify,
        docmdp_permissions=MDPPerm.FILL_FORMS,
    )


def sign_pdf(pdf: bytes, keys: Sequence[SigningKey], *, tsa_url: str | None = None,
             timestamper: TimeStamper | None = None) -> bytes:
    """``pdf`` with one incremental PAdES signature per key, in order (principal, then school seal).

    The first signature certifies the document (later: form filling and signatures only). With
    ``tsa_url`` (or a ``timestamper`` object, e.g. pyHanko's DummyTimeStamper in tests) each signature
    gets an RFC 3161 timestamp. The embedded XML must already be in ``pdf``: after signing, adding
    it would be an illegal modification.
    """
    if not keys:
        raise SigningError("sign_pdf: no keys given")
    ts = timestamper or (_timestamper(tsa_url) if tsa_url else None)
    data = pdf
    used: set[str] = set()
    for i, key in enumerate(keys):
        name = FIELD_PREFIX + key.name
        while name in used:
            name += "_"
        used.add(name)
        writer = IncrementalPdfFileWriter(BytesIO(data))
        out = BytesIO()
        try:
            PdfSigner(_metadata(key, name, certify=i == 0), key.pyhanko_signer, timestamper=ts).sign_pdf(
                writer, output=out, bytes_reserved=_bytes_reserved(key, ts))
        except (TimeoutError, TimestampRequestError, OSError) as exc:
            if ts is None:
                raise
            # No record is issued without the timestamp it was configured to carry.
            raise SigningError(f"dấu thời gian / timestamp: TSA {tsa_url or type(ts).__name__} did not "
                               f"answer ({type(exc).__name__}: {exc}); check HOCBA_TSA_URL") from exc
        data = out.getvalue()
    return data
