"""Keys on a PKCS#11 token: a real SoftHSM2 token, keys imported with the real pkcs11-tool (OpenSC).

RSA and EC (P-256) keys; SoftHSM has no hashing ECDSA mechanisms, so EC keys sign with raw CKM_ECDSA
over a digest made here (pyHanko's ``use_raw_mechanism``). The signed files are checked by the same
external verifiers as the PKCS#12 path: xmlsec1 and ``pyhanko sign validate``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from pipelines.errors import ConfigError
from pipelines.issue.errors import SchoolKeyMissing
from pipelines.issue.keys import TokenKey, signing_keys, where_keys_are
from pipelines.issue.sign import sign_pdf, sign_xml
from pipelines.issue.verify import verify_bytes
from pipelines.settings import Settings
from tests.issue.signing import (
    PASSPHRASE,
    REPO,
    SMALL_XML,
    make_pki,
    only_not_a_record,
    pyhanko_validate,
    small_pdf,
    xmlsec_verify,
)

MODULE_CANDIDATES = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                     "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so")
MODULE = next((m for m in MODULE_CANDIDATES if Path(m).exists()), None)
PIN, SO_PIN = "246810", "13579"
missing = [t for t in ("softhsm2-util", "pkcs11-tool", "xmlsec1") if shutil.which(t) is None]
pytestmark = pytest.mark.skipif(
    bool(missing) or MODULE is None,
    reason=f"SoftHSM2 test token needs Debian packages softhsm2, opensc, xmlsec1 (missing: "
           f"{', '.join(missing) or 'libsofthsm2.so'})")


def _run(*args: str) -> str:
    out = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"{args[0]} failed: {out.stderr or out.stdout}"
    return out.stdout


# Two tokens: 'hocba-rsa' holds two schools' keys (labels school-<code>, principal-<code>) and the CA
# certificate; 'hocba-EC1' holds one school's EC keys (token label with the school code in it).
SCHOOLS = {"rsa": ("79760401", "79760402"), "ec": ("EC1",)}
TOKENS = {"rsa": "hocba-rsa", "ec": "hocba-EC1"}


def _import(token: str, pki: Path, work: Path, schools: tuple[str, ...], *, with_ca: bool) -> None:
    """Put each school's seal and principal keys and certificates on ``token`` with pkcs11-tool, labelled
    ``school-<code>`` / ``principal-<code>``."""
    tool = ["pkcs11-tool", "--module", MODULE, "--token-label", token, "--login", "--pin", PIN]
    n = 0
    for code in schools:
        for role in ("school", "principal"):
            n += 1
            p12 = (pki / code / f"{role}.p12").read_bytes()
            key, cert, _ = pkcs12.load_key_and_certificates(p12, PASSPHRASE.encode())
            stem = work / f"{token}-{code}-{role}"
            stem.with_suffix(".key.der").write_bytes(key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
            stem.with_suffix(".crt.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
            label = f"{role}-{code}"
            _run(*tool, "--write-object", str(stem.with_suffix(".key.der")), "--type", "privkey",
                 "--label", label, "--id", f"{n:02x}", "--usage-sign")
            _run(*tool, "--write-object", str(stem.with_suffix(".crt.der")), "--type", "cert",
                 "--label", label, "--id", f"{n:02x}")
    if with_ca:
        ca = x509.load_pem_x509_certificate((pki / "ca.pem").read_bytes())
        (work / f"{token}-ca.der").write_bytes(ca.public_bytes(serialization.Encoding.DER))
        _run(*tool, "--write-object", str(work / f"{token}-ca.der"), "--type", "cert", "--label", "ca",
             "--id", "70")


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    """The two tokens in one private SoftHSM2 store; their development PKIs by kind."""
    work = tmp_path_factory.mktemp("softhsm")
    (work / "tokens").mkdir()
    conf = work / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {work / 'tokens'}\n"
                    "objectstore.backend = file\nlog.level = ERROR\n")
    with pytest.MonkeyPatch.context() as mp:
        # SoftHSM reads this when the module is loaded, and the module stays loaded for the process:
        # every test of this file uses this one store.
        mp.setenv("SOFTHSM2_CONF", str(conf))
        pkis = {"rsa": make_pki(work / "pki-rsa", schools=SCHOOLS["rsa"]),
                "ec": make_pki(work / "pki-ec", schools=SCHOOLS["ec"], key_type="ec")}
        for kind, pki in pkis.items():
            _run("softhsm2-util", "--init-token", "--free", "--label", TOKENS[kind], "--pin", PIN,
                 "--so-pin", SO_PIN)
            _import(TOKENS[kind], pki, work, SCHOOLS[kind], with_ca=kind == "rsa")
        listing = _run("pkcs11-tool", "--module", MODULE, "--token-label", TOKENS["ec"], "--login",
                       "--pin", PIN, "--list-objects")
        assert "Private Key Object; EC" in listing
        yield pkis
        # the private keys never leave the token: the DER files were only the import's input
        for f in work.glob("*.key.der"):
            f.unlink()


def _settings(kind: str, **kw) -> Settings:
    token = "hocba-{school_code}" if kind == "ec" else TOKENS["rsa"]
    return Settings(**{"pkcs11_module": MODULE, "pkcs11_token_label": token, "pkcs11_pin": PIN,
                       "pki_dir": Path("/nonexistent"), **kw})


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_token_keys_sign_xml_and_pdf(tmp_path, tokens, kind):
    pki, code = tokens[kind], SCHOOLS[kind][0]
    keys = signing_keys(code, _settings(kind))
    assert isinstance(keys.school.xml_key, TokenKey)
    assert keys.school.certificate == x509.load_pem_x509_certificate((pki / code / "school.pem").read_bytes())
    assert keys.school.is_ec == (kind == "ec")
    assert signing_keys(code, _settings(kind)) is keys  # one session per process

    xml = sign_xml(SMALL_XML, keys.school)
    (tmp_path / "r.xml").write_bytes(xml)
    out = xmlsec_verify(tmp_path / "r.xml", pki / "ca.pem")
    assert out.returncode == 0, out.stderr

    pdf = sign_pdf(small_pdf(xml), keys.pdf_order)
    (tmp_path / "r.pdf").write_bytes(pdf)
    out = pyhanko_validate(tmp_path / "r.pdf", pki / "ca.pem")
    assert out.returncode == 0, out.stdout + out.stderr
    lines = [line for line in out.stdout.splitlines() if line.startswith("hocba_")]
    assert [line.split(":")[0] for line in lines] == ["hocba_principal", "hocba_school"]
    assert all(":INTACT:TRUSTED" in line for line in lines)
    # our own verifier agrees about the signatures (the small document is no record: XSD fails only)
    v = verify_bytes(pdf, trust_roots=[pki / "ca.pem"])
    assert only_not_a_record(v), v.messages
    assert only_not_a_record(verify_bytes(xml, trust_roots=[pki / "ca.pem"]))
    assert v.signers == (keys.principal.subject, keys.school.subject)


def test_token_chain_comes_from_the_token(tokens):
    keys = signing_keys("79760401", _settings("rsa"))
    ca = x509.load_pem_x509_certificate((tokens["rsa"] / "ca.pem").read_bytes())
    assert keys.principal.chain == (keys.principal.certificate, ca)
    ec = signing_keys("EC1", _settings("ec")).principal
    assert ec.chain == (ec.certificate,)  # no CA certificate on that token: the verifier brings it


def test_wrong_pin(tokens):
    """In a fresh process (a login is per process and token): the token refuses, the message says PIN."""
    code = ("from pipelines.issue.keys import signing_keys\n"
            "from pipelines.settings import Settings\n"
            f"signing_keys('79760401', Settings(pkcs11_module={MODULE!r}, pkcs11_token_label='hocba-rsa', "
            "pkcs11_pin='000000'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=REPO, env={**os.environ})
    assert out.returncode != 0
    assert "ConfigError" in out.stderr and "PinIncorrect" in out.stderr and "PIN" in out.stderr
    # in this process, where the token is open: another PIN is refused too
    signing_keys("79760401", _settings("rsa"))
    with pytest.raises(ConfigError, match="another PIN"):
        signing_keys("79760401",
                     _settings("rsa", pkcs11_pin="000000", pkcs11_school_key_label="x-{school_code}"))


def test_each_school_s_key_by_its_label(tokens):
    """One token, several schools: the school code picks the key; the certificate names the school."""
    a, b = (signing_keys(code, _settings("rsa")) for code in SCHOOLS["rsa"])
    assert a.school.sha256 != b.school.sha256 and a.principal.sha256 != b.principal.sha256
    for code, keys in zip(SCHOOLS["rsa"], (a, b), strict=True):
        assert keys.school_code == code and f"VN-{code}" in keys.school.subject
        assert keys.school.certificate == x509.load_pem_x509_certificate(
            (tokens["rsa"] / code / "school.pem").read_bytes())
    with pytest.raises(SchoolKeyMissing, match=r"school 79760409.*token hocba-rsa, private key labelled "
                       r"'school-79760409'") as exc:
        signing_keys("79760409", _settings("rsa"))
    assert "HOCBA_PKCS11_SCHOOL_KEY_LABEL" in str(exc.value)
    assert where_keys_are("79760409", _settings("rsa")).endswith("school-79760409, principal-79760409")


def test_the_issue_stage_signs_each_school_with_its_token_key(tokens, tmp_path):
    """issue_batch with the token: the record of school 79760402 is signed by that school's key."""
    import dataclasses

    from pipelines.db import database
    from pipelines.issue.keys import school_keys
    from pipelines.issue.stage import issue_batch, verify_issued
    from pipelines.issue.verify import verify_file
    from pipelines.storage import Storage
    from tests.issue.samples import DISTRICT, frames, sample_record

    code = "79760402"
    rec = dataclasses.replace(sample_record("HB-0001"), school=code, record_id=f"{code}-HB-0001",
                              batch_id=f"{DISTRICT}/{code}/2024-001")
    engine, storage = database(f"sqlite:///{tmp_path / 'hocba.db'}"), Storage(str(tmp_path / "root"))
    ca = [tokens["rsa"] / "ca.pem"]
    r = issue_batch(*frames([rec]), engine=engine, storage=storage, keys=school_keys(_settings("rsa")),
                    trust_roots=ca)
    assert r.new == 1 and verify_issued(r.issued, storage, engine, ca) == {}
    v = verify_file(storage.full(r.issued["pdf_uri"].iloc[0]), trust_roots=ca, engine=engine)
    mine = signing_keys(code, _settings("rsa"))
    assert v.ok and v.signers == (mine.principal.subject, mine.school.subject)
    assert all(f"VN-{code}" in s for s in v.signers)


def test_missing_key_label(tokens):
    with pytest.raises(SchoolKeyMissing, match="HOCBA_PKCS11_SCHOOL_KEY_LABEL"):
        signing_keys("79760401", _settings("rsa", pkcs11_school_key_label="con-dau-cu-{school_code}"))
    # labels that do not name the school would sign every school with one key: refused
    with pytest.raises(ConfigError, match=r"must contain \{school_code\}"):
        signing_keys("79760401", _settings("rsa", pkcs11_school_key_label="school-79760401",
                                           pkcs11_principal_key_label="principal-79760401"))


def test_unknown_token_and_module(tokens):
    with pytest.raises(ConfigError, match="token"):
        signing_keys("79760401", _settings("rsa", pkcs11_token_label="khong-co"))
    with pytest.raises(ConfigError, match="token hocba-EC9"):  # a school without its token
        signing_keys("EC9", _settings("ec"))
    with pytest.raises(ConfigError, match="module"):
        signing_keys("79760401", _settings("rsa", pkcs11_module="/nonexistent/libpkcs11.so"))
    with pytest.raises(ConfigError, match="PIN"):
        signing_keys("79760401", _settings("rsa", pkcs11_pin=None))


def test_token_settings_from_the_environment(tokens, monkeypatch, hocba_home):
    """The same keys through HOCBA_PKCS11_* settings, as a district server would configure them."""
    from pipelines.settings import get_settings

    monkeypatch.setenv("HOCBA_PKCS11_MODULE", MODULE)
    monkeypatch.setenv("HOCBA_PKCS11_TOKEN_LABEL", "hocba-rsa")
    monkeypatch.setenv("HOCBA_PKCS11_PIN", PIN)
    get_settings.cache_clear()
    keys = signing_keys("79760402")
    assert keys.school.sha256 == signing_keys("79760402", _settings("rsa")).school.sha256
    assert os.environ["SOFTHSM2_CONF"]  # still the private store
