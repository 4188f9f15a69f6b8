"""Issue throughput: our stage (render + sign XML + sign PDF twice + ledger) vs bare signing (JSON).

    .venv/bin/python benchmarks/issue_throughput.py --books 50 --json

Books come from a synthetic district's truth (pipelines/synth/accepted.py: no scanning).
``ours_s_per_book``: ``issue_batch`` per book — record XML with XSD validation, XAdES,
PDF render with the XML embedded, two PAdES signatures, content-addressed writes, the
ledger append. ``bare_s_per_book``: the same unsigned documents signed by direct signxml
and pyHanko calls with keys loaded once, written nowhere, no ledger. ``overhead_ratio`` =
ours / bare; ``verify_s_per_book``: what the asset check then spends verifying both files.
Runs in one process (one core).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def bare_sign(xml_docs: list[bytes], pdf_docs: list[bytes], pki: Path, passphrase: str) -> float:
    """Seconds to sign every document with signxml / pyHanko directly, keys preloaded."""
    from cryptography.hazmat.primitives.serialization import pkcs12
    from lxml import etree
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from signxml import xades

    pw = passphrase.encode()
    school = signers.SimpleSigner.load_pkcs12(str(pki / "school.p12"), passphrase=pw)
    principal = signers.SimpleSigner.load_pkcs12(str(pki / "principal.p12"), passphrase=pw)
    key, cert, _ = pkcs12.load_key_and_certificates((pki / "school.p12").read_bytes(), pw)
    from cryptography.hazmat.primitives.serialization import Encoding

    cert_pem = cert.public_bytes(Encoding.PEM)
    t0 = time.perf_counter()
    for x in xml_docs:
        root = etree.fromstring(x)
        signed = xades.XAdESSigner().sign(root, key=key, cert=[cert_pem])
        etree.tostring(signed)
    for p in pdf_docs:
        data = p
        for n, s in enumerate((principal, school)):
            w = IncrementalPdfFileWriter(io.BytesIO(data))
            out = signers.sign_pdf(w, signers.PdfSignatureMetadata(field_name=f"Sig{n + 1}"), signer=s)
            data = out.getvalue()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--books", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print only the JSON object")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="hocba-issue-bench-") as tmp:
        os.environ["HOCBA_HOME"] = tmp
        from pipelines.settings import get_settings

        get_settings.cache_clear()
        settings = get_settings()
        from pipelines.db import database
        from pipelines.issue.keys import signing_keys
        from pipelines.issue.pki import init_pki
        from pipelines.issue.stage import issue_batch, verify_issued
        from pipelines.storage import Storage
        from pipelines.synth.accepted import issue_inputs

        accepted, normalized, manifest = issue_inputs(books=args.books, seed=args.seed)
        school = str(manifest["school"].iloc[0])
        init_pki(settings.pki_root, schools=[school], passphrase=settings.pki_passphrase)
        engine, storage = database(settings.database), Storage(settings.issued_root)
        keys = signing_keys(school)  # loaded once, as a worker does
        roots = settings.trust_root_paths
        # Warm-up: one book through everything (imports, fonts, first key use).
        first = accepted["book_ref"].iloc[0]
        issue_batch(accepted[accepted["book_ref"] == first], normalized, manifest, engine=engine,
                    storage=storage, keys=keys, trust_roots=roots)
        rest = accepted[accepted["book_ref"] != first]
        books = rest["book_ref"].nunique()
        t0 = time.perf_counter()
        r = issue_batch(rest, normalized, manifest, engine=engine, storage=storage, keys=keys,
                        trust_roots=roots)
        ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        problems = verify_issued(r.issued, storage, engine, settings.trust_root_paths)
        verify = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = issue_batch(rest, normalized, manifest, engine=engine, storage=storage, keys=keys,
                            trust_roots=roots)
        rerun = time.perf_counter() - t0

        # The same documents, unsigned, signed the bare way.
        from pipelines.issue.model import build_records
        from pipelines.issue.pdf import render_pdf
        from pipelines.issue.record import record_xml

        now = r.issued["issued_at"].iloc[0].to_pydatetime()
        recs = build_records(rest, normalized, manifest)
        xmls = [record_xml(rec, version=1, supersedes=None, issued_at=now) for rec in recs]
        t0 = time.perf_counter()
        pdfs = [render_pdf(rec, xml=x, version=1, issued_at=now) for rec, x in zip(recs, xmls, strict=True)]
        render = time.perf_counter() - t0
        bare = bare_sign(xmls, pdfs, settings.pki_root / school, settings.pki_passphrase)

    result = {
        "books": books,
        "ours_s_per_book": round(ours / books, 4),
        "bare_s_per_book": round(bare / books, 4),
        "overhead_ratio": round(ours / bare, 3),
        "books_per_s": round(books / ours, 2),
        "render_pdf_s_per_book": round(render / books, 4),
        "ours_seconds_by_step_per_book": {k: round(v / books, 4) for k, v in r.seconds.items()},
        "verify_s_per_book": round(verify / books, 4),
        "verified": len(r.issued) - len(problems),
        "rerun_s_per_book": round(rerun / books, 4),
        "rerun_issued_new": again.new,
        "not_issued": len(r.failed),
    }
    print(json.dumps(result, ensure_ascii=False, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
