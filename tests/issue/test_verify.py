"""`hocba verify`: a signed record verifies; every kind of tampering is caught and said."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest
from click.testing import CliRunner
from lxml import etree

from pipelines.errors import ExitCode
from pipelines.issue.sign import sign_pdf, sign_xml
from pipelines.issue.verify import ProblemCode, Verdict, verify_bytes, verify_file
from tests.issue.signing import (
    SMALL_XML,
    append_info_update,
    has,
    keys_for,
    make_pki,
    replace_page_content,
    small_pdf,
)

NS = "{urn:hocba:record:1}"
NOW = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("verify") / "pki")


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory):
    """A second CA with the same name as the first: only its key tells them apart."""
    return make_pki(tmp_path_factory.mktemp("verify-other") / "pki")


@pytest.fixture(scope="module")
def keys(pki):
    return keys_for(pki)


@pytest.fixture(scope="module")
def record():
    from tests.issue.samples import sample_record

    return sample_record("HB-0042")


def _issue(record, keys, version: int = 1) -> tuple[bytes, bytes]:
    """(signed XML, signed PDF) of a real record, as the stage makes them."""
    from pipelines.issue.pdf import render_pdf
    from pipelines.issue.record import record_xml

    supersedes = None if version == 1 else f"{record.record_id}:v{version - 1}"
    xml = sign_xml(record_xml(record, version=version, supersedes=supersedes, issued_at=NOW), keys.school)
    pdf = sign_pdf(render_pdf(record, xml=xml, version=version, issued_at=NOW), keys.pdf_order)
    return xml, pdf


@pytest.fixture(scope="module")
def issued(record, keys):
    return _issue(record, keys)


def _check(data: bytes, pki, name: str, **kw) -> Verdict:
    return verify_bytes(data, trust_roots=[pki / "ca.pem"], name=name, **kw)


def _problems(v: Verdict) -> str:
    return " | ".join(v.messages)


# --- what verifies --------------------------------------------------------------------------------------
def test_signed_record_verifies(tmp_path, pki, keys, record, issued):
    xml, pdf = issued
    for name, data in (("r.xml", xml), ("r.pdf", pdf)):
        path = tmp_path / name
        path.write_bytes(data)
        v = verify_file(path, trust_roots=[pki / "ca.pem"])
        assert v.ok, _problems(v)
        assert (v.record_id, v.version) == (record.record_id, 1)
        assert v.ledger_status is None  # no ledger asked
        assert v.line().startswith(f"OK    {path}  {record.record_id} v1")
        assert verify_bytes(data, trust_roots=[pki / "ca.pem"], name=str(path)) == v
    pdf_v = verify_file(tmp_path / "r.pdf", trust_roots=[pki / "ca.pem"])
    assert pdf_v.kind == "pdf" and pdf_v.signers == (keys.principal.subject, keys.school.subject)
    assert verify_file(tmp_path / "r.xml", trust_roots=[pki / "ca.pem"]).signers == (keys.school.subject,)


def test_a_verdict_is_a_frozen_value_with_codes_beside_the_messages(tmp_path, pki, issued):
    import dataclasses

    v = verify_file(tmp_path / "missing.pdf", trust_roots=[pki / "ca.pem"])
    assert not v.ok and v.codes == [ProblemCode.unreadable] and "cannot read the file" in v.messages[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.record_id = "HB-1"  # type: ignore[misc]
    assert v.to_dict() == {
        "file": str(tmp_path / "missing.pdf"), "kind": "pdf", "ok": False, "record_id": None, "version": None,
        "ledger_status": None, "problems": v.messages, "problem_codes": ["unreadable"], "signers": []}


def test_two_trust_roots(pki, other_pki, issued):
    _, pdf = issued
    v = verify_bytes(pdf, trust_roots=[other_pki / "ca.pem", pki / "ca.pem"])
    assert v.ok, _problems(v)


# --- tampering ----------------------------------------------------------------------------------------
def test_flipped_byte_in_pdf(pki, issued):
    _, pdf = issued
    i = len(pdf) // 3  # inside the first revision: covered by both signatures
    bad = pdf[:i] + bytes([pdf[i] ^ 0x01]) + pdf[i + 1:]
    v = _check(bad, pki, "bad.pdf")
    assert not v.ok
    assert "hocba_principal" in _problems(v) and "hocba_school" in _problems(v)


def test_flipped_byte_in_xml(pki, issued):
    xml, _ = issued
    i = xml.index(b"<Student>") + len(b"<Student>") + 30
    bad = xml[:i] + bytes([xml[i] ^ 0x02]) + xml[i + 1:]
    v = _check(bad, pki, "bad.xml")
    assert not v.ok and "XML" in _problems(v)


def test_changed_score_in_xml(pki, issued):
    xml, _ = issued
    root = etree.fromstring(xml)
    score = next(root.iter(f"{NS}HK1"))  # Toán, HK I of the first year
    score.text = "10.0" if score.text != "10.0" else "9.0"
    v = _check(etree.tostring(root, xml_declaration=True, encoding="UTF-8"), pki, "score.xml")
    assert not v.ok
    assert "chữ ký XML không hợp lệ / XML signature invalid" in _problems(v)


def test_comment_inside_a_value_is_refused(pki, issued):
    """C14N without comments ignores them: `7<!---->.9` would still 'verify' while reading differently."""
    xml, _ = issued
    root = etree.fromstring(xml)
    target = next(root.iter(f"{NS}HK1"))
    head, tail = target.text.split(".", 1)
    target.text = head
    target.append(etree.Comment(""))
    target[-1].tail = "." + tail
    v = _check(etree.tostring(root, xml_declaration=True, encoding="UTF-8"), pki, "comment.xml")
    assert not v.ok and "comments" in _problems(v)


def test_unsigned_update_replacing_page_content(tmp_path, pki, issued):
    """The attack poppler's pdfsig calls valid: our verifier (pyHanko's diff analysis) rejects it."""
    _, pdf = issued
    bad = replace_page_content(pdf)
    v = _check(bad, pki, "edited.pdf")
    assert not v.ok
    text = _problems(v)
    assert "modified after signing" in text and "does not cover the whole file" in text
    assert {ProblemCode.modified_after_signing, ProblemCode.not_covered} <= set(v.codes)
    if has("pdfsig"):
        path = tmp_path / "edited.pdf"
        path.write_bytes(bad)
        out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True)
        assert "Signature is Valid" in out.stdout  # what a naive check would have accepted


def test_update_after_the_last_signature(pki, issued):
    _, pdf = issued
    v = _check(append_info_update(pdf), pki, "appended.pdf")
    assert not v.ok and "does not cover the whole file" in _problems(v)


def test_certificate_from_another_ca(pki, other_pki, record):
    xml, pdf = _issue(record, keys_for(other_pki))
    for name, data in (("o.xml", xml), ("o.pdf", pdf)):
        v = _check(data, pki, name)
        assert not v.ok, name
        assert "does not chain to a trusted root" in _problems(v)
        assert ProblemCode.untrusted in v.codes
    # and they do verify against their own CA: the failure above is about trust only
    assert _check(pdf, other_pki, "o.pdf").ok


def test_embedded_xml_signed_by_another_ca(pki, other_pki, keys, record):
    """A trusted PDF signature over an attachment whose own XML signature is untrusted is not enough."""
    from pipelines.issue.pdf import render_pdf
    from pipelines.issue.record import record_xml

    xml = sign_xml(record_xml(record, version=1, supersedes=None, issued_at=NOW), keys_for(other_pki).school)
    pdf = sign_pdf(render_pdf(record, xml=xml, version=1, issued_at=NOW), keys.pdf_order)
    v = _check(pdf, pki, "mixed.pdf")
    assert not v.ok and "embedded XML" in _problems(v)


def test_unsigned_documents(pki):
    from pipelines.issue.record import record_xml
    from tests.issue.samples import sample_record

    xml = record_xml(sample_record(), version=1, supersedes=None, issued_at=NOW)
    v = _check(xml, pki, "plain.xml")
    assert not v.ok and "XML is not signed" in _problems(v) and v.codes == [ProblemCode.not_signed]
    v = _check(small_pdf(xml), pki, "plain.pdf")
    assert not v.ok and "the PDF is not signed" in _problems(v) and v.codes == [ProblemCode.not_signed]
    v = _check(b"\x00\x01 not a document", pki, "x.bin")
    assert not v.ok and v.codes == [ProblemCode.unreadable]


def test_signed_but_not_a_record(pki, keys):
    v = _check(sign_xml(SMALL_XML, keys.school), pki, "small.xml")
    assert not v.ok and "record fails the XSD" in _problems(v)
    v = _check(sign_pdf(small_pdf(), keys.pdf_order), pki, "small.pdf")
    assert not v.ok and "embedded XML" in _problems(v)
    v = _check(sign_pdf(small_pdf(SMALL_XML, name="other.xml"), keys.pdf_order), pki, "noattach.pdf")
    assert not v.ok and "no embedded hocba-record.xml" in _problems(v)
    assert v.codes == [ProblemCode.record_invalid]


def test_missing_trust_root_is_a_config_error(tmp_path, issued):
    from pipelines.errors import ConfigError

    with pytest.raises(ConfigError, match="hocba pki init"):
        verify_bytes(issued[1], trust_roots=[tmp_path / "nope.pem"])


# --- the CLI ------------------------------------------------------------------------------------------
def test_cli_verify(tmp_path, pki, issued, hocba_home):
    from pipelines.cli import main

    xml, pdf = issued
    good_xml, good_pdf, bad_pdf = tmp_path / "r.xml", tmp_path / "r.pdf", tmp_path / "bad.pdf"
    good_xml.write_bytes(xml)
    good_pdf.write_bytes(pdf)
    bad_pdf.write_bytes(replace_page_content(pdf))
    runner = CliRunner()
    trust = ["--trust", str(pki / "ca.pem")]
    res = runner.invoke(main, ["verify", "--no-ledger", *trust, str(good_pdf), str(good_xml)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert len(lines) == 2 and all(line.startswith("OK") for line in lines)
    res = runner.invoke(main, ["verify", "--no-ledger", *trust, str(good_pdf), str(bad_pdf)])
    assert res.exit_code == ExitCode.verify_failed == 8
    assert res.output.splitlines()[1].startswith(f"FAIL  {bad_pdf}")
    res = runner.invoke(main, ["verify", "--no-ledger", "--json", *trust, str(bad_pdf)])
    assert res.exit_code == ExitCode.verify_failed
    got = json.loads(res.output)
    assert got["ok"] is False and got["kind"] == "pdf" and got["problems"]
    assert "modified_after_signing" in got["problem_codes"]
    assert len(got["problem_codes"]) == len(got["problems"])
    # no trust root at all: a configuration error, not a failed file
    res = runner.invoke(main, ["verify", "--no-ledger", str(good_pdf)])
    assert res.exit_code == ExitCode.setting and "hocba pki init" in res.output


# --- the ledger ---------------------------------------------------------------------------------------
@pytest.fixture
def ledger(tmp_path):
    from pipelines.db import database, dispose_engines
    from pipelines.storage import Storage

    url = f"sqlite:///{tmp_path / 'hocba.db'}"
    yield url, database(url), Storage(str(tmp_path / "issued"))
    dispose_engines()


def _record_in_ledger(engine, storage, record, keys, version: int):
    from pipelines.issue.ledger import issue
    from pipelines.issue.record import content_sha256

    xml, pdf = _issue(record, keys, version)
    issue(engine, storage, record_id=record.record_id, content_sha256=content_sha256(record), xml=xml,
          pdf=pdf, signer_certs=keys.summaries(), issued_at=NOW)
    return xml, pdf


def test_ledger_current_superseded_revoked_unknown(tmp_path, pki, keys, ledger):
    from pipelines.issue.ledger import revoke
    from tests.issue.samples import sample_record, with_value

    _, engine, storage = ledger
    v1 = sample_record("HB-0077")
    # a correction: a reviewer changes a score → new content → version 2
    v2 = with_value(v1, 1, "scores.toan.hk2", "4,5")
    xml1, pdf1 = _record_in_ledger(engine, storage, v1, keys, 1)
    for data, name in ((xml1, "v1.xml"), (pdf1, "v1.pdf")):
        v = _check(data, pki, name, engine=engine)
        assert v.ok and v.ledger_status == "current", _problems(v)
        assert v.line().endswith(f"{v1.record_id} v1 (current)")

    _, pdf2 = _record_in_ledger(engine, storage, v2, keys, 2)
    for data, name in ((xml1, "v1.xml"), (pdf1, "v1.pdf")):
        v = _check(data, pki, name, engine=engine)
        assert not v.ok and v.ledger_status == "superseded" and (v.record_id, v.version) == (v1.record_id, 1)
        assert "superseded" in _problems(v) and v.codes == [ProblemCode.not_current]
    assert _check(pdf2, pki, "v2.pdf", engine=engine).ok

    revoke(engine, v2.record_id, 2, "cấp nhầm")
    v = _check(pdf2, pki, "v2.pdf", engine=engine)
    assert not v.ok and v.ledger_status == "revoked" and "revoked" in _problems(v)

    # validly signed by our keys, but never issued: unknown to the ledger
    stray_xml, _ = _issue(sample_record("HB-0999"), keys)
    v = _check(stray_xml, pki, "stray.xml", engine=engine)
    assert not v.ok and v.ledger_status == "unknown" and "not in the ledger" in _problems(v)
    assert v.codes == [ProblemCode.not_in_ledger]


def test_cli_verify_with_the_ledger(tmp_path, pki, keys, ledger, hocba_home):
    from pipelines.cli import main
    from tests.issue.samples import sample_record, with_value

    url, engine, storage = ledger
    rec = sample_record("HB-0088")
    _, pdf1 = _record_in_ledger(engine, storage, rec, keys, 1)
    _, pdf2 = _record_in_ledger(engine, storage, with_value(rec, 0, "scores.toan.hk2", "4,5"), keys, 2)
    (tmp_path / "v1.pdf").write_bytes(pdf1)
    (tmp_path / "v2.pdf").write_bytes(pdf2)
    args = ["verify", "--trust", str(pki / "ca.pem"), "--database-url", url]
    res = CliRunner().invoke(main, [*args, str(tmp_path / "v2.pdf")])
    assert res.exit_code == 0, res.output
    assert res.output.strip().endswith(f"{rec.record_id} v2 (current)")
    res = CliRunner().invoke(main, [*args, str(tmp_path / "v1.pdf"), str(tmp_path / "v2.pdf")])
    assert res.exit_code == ExitCode.verify_failed
    first, second = res.output.splitlines()
    assert first.startswith("FAIL") and "superseded" in first and second.startswith("OK")
