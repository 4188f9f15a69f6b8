"""The development PKI (`hocba pki init`) and loading the signing keys (keys.py)."""

from __future__ import annotations

import datetime as dt
import stat
import subprocess

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pipelines.errors import ConfigError, ExitCode
from pipelines.issue import keys as keys_mod
from pipelines.issue.errors import SchoolKeyMissing, SigningKeyError
from pipelines.issue.pki import DOCUMENT_SIGNING, School, add_schools, ensure_pki, init_pki
from pipelines.settings import Settings, get_settings
from tests.issue.signing import PASSPHRASE, keys_for, make_pki, settings_for


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki") / "pki")


def _cert(path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_init_makes_ca_and_two_signing_certificates(pki):
    names = {str(p.relative_to(pki)) for p in pki.rglob("*") if not p.name.startswith(".")}
    assert names == {"ca.pem", "ca.key.pem", "DEMO", "DEMO/school.p12", "DEMO/school.pem",
                     "DEMO/principal.p12", "DEMO/principal.pem"}
    # private material readable by the owner only
    for secret in ("ca.key.pem", "DEMO/school.p12", "DEMO/principal.p12"):
        assert stat.S_IMODE((pki / secret).stat().st_mode) == 0o600, secret
    assert stat.S_IMODE(pki.stat().st_mode) == 0o700
    assert stat.S_IMODE((pki / "DEMO").stat().st_mode) == 0o700
    # the CA key is encrypted with the passphrase
    with pytest.raises(TypeError):
        serialization.load_pem_private_key((pki / "ca.key.pem").read_bytes(), None)
    serialization.load_pem_private_key((pki / "ca.key.pem").read_bytes(), PASSPHRASE.encode())

    ca = _cert(pki / "ca.pem")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    for role in ("school", "principal"):
        cert = _cert(pki / "DEMO" / f"{role}.pem")
        assert cert.issuer == ca.subject
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
        assert ku.critical and ku.value.digital_signature and ku.value.content_commitment
        assert not ku.value.key_cert_sign
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert DOCUMENT_SIGNING in eku and ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
        assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert isinstance(cert.public_key(), rsa.RSAPublicKey) and cert.public_key().key_size == 2048
        assert cert.not_valid_before_utc <= dt.datetime.now(dt.UTC) <= cert.not_valid_after_utc
        # both certificates name the school by its code
        assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == "VN-DEMO"
    principal = _cert(pki / "DEMO" / "principal.pem")
    assert principal.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Nguyễn Văn A"
    assert principal.subject.get_attributes_for_oid(NameOID.TITLE)[0].value == "Hiệu trưởng"
    school = _cert(pki / "DEMO" / "school.pem")
    assert school.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Trường THCS Demo"


def test_one_ca_and_a_key_pair_per_school(tmp_path):
    d = make_pki(tmp_path / "pki",
                 schools=[School("79760401", "Trường THCS Lê Lợi", "Trần Thị B"), "79760402"])
    ca = _cert(d / "ca.pem")
    subjects = {}
    for code in ("79760401", "79760402"):
        for role in ("school", "principal"):
            cert = _cert(d / code / f"{role}.pem")
            assert cert.issuer == ca.subject
            subjects[code, role] = cert.subject
    assert subjects["79760401", "school"].get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == \
        "Trường THCS Lê Lợi"
    assert subjects["79760402", "school"].get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == \
        "Trường 79760402"
    principal = subjects["79760401", "principal"]
    assert principal.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Trần Thị B"
    a, b = keys_for(d, "79760401"), keys_for(d, "79760402")
    assert a.school.sha256 != b.school.sha256 and a.principal.sha256 != b.principal.sha256
    assert "VN-79760401" in a.school.subject and "VN-79760402" in b.school.subject
    # a school added later is issued by the same CA; one that has keys is not replaced
    before = _cert(d / "79760401" / "school.pem")
    add_schools(d, schools=["79760403"], passphrase=PASSPHRASE)
    assert _cert(d / "79760403" / "school.pem").issuer == ca.subject
    with pytest.raises(ConfigError, match="79760401 already have keys"):
        add_schools(d, schools=["79760401"], passphrase=PASSPHRASE)
    assert _cert(d / "79760401" / "school.pem") == before
    # ensure_pki adds the missing ones only
    made = ensure_pki(d, passphrase=PASSPHRASE, schools=["79760401", "79760404"])
    assert made["schools"] == ["79760401", "79760402", "79760403", "79760404"]
    assert _cert(d / "79760401" / "school.pem") == before and _cert(d / "ca.pem") == ca
    with pytest.raises(ConfigError, match="cannot name a key folder"):
        init_pki(tmp_path / "bad", schools=["../x"], passphrase=PASSPHRASE)


def test_openssl_accepts_the_chain(pki):
    out = subprocess.run(["openssl", "verify", "-CAfile", str(pki / "ca.pem"),
                          str(pki / "DEMO" / "school.pem"), str(pki / "DEMO" / "principal.pem")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count(": OK") == 2


def test_pkcs12_holds_key_certificate_and_ca(pki):
    p12 = (pki / "DEMO" / "principal.p12").read_bytes()
    key, cert, extra = pkcs12.load_key_and_certificates(p12, PASSPHRASE.encode())
    assert cert == _cert(pki / "DEMO" / "principal.pem")
    assert extra == [_cert(pki / "ca.pem")]
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates((pki / "DEMO" / "principal.p12").read_bytes(), b"wrong")


def test_refuses_to_replace_a_ca_unless_forced(tmp_path):
    d = make_pki(tmp_path / "pki")
    before = _cert(d / "ca.pem").fingerprint(hashes.SHA256())
    with pytest.raises(ConfigError, match="already exists"):
        init_pki(d, passphrase=PASSPHRASE)
    assert _cert(d / "ca.pem").fingerprint(hashes.SHA256()) == before
    # ensure_pki keeps what is there
    assert ensure_pki(d, passphrase=PASSPHRASE)["certificates"][0]["sha256"] == before.hex()
    init_pki(d, passphrase=PASSPHRASE, force=True, schools=[School("CVA", "Trường THPT Chu Văn An")])
    assert _cert(d / "ca.pem").fingerprint(hashes.SHA256()) != before
    assert not (d / "DEMO").exists()  # the old CA's school keys went with it
    school = _cert(d / "CVA" / "school.pem")
    assert school.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == \
        "Trường THPT Chu Văn An"
    assert school.issuer == _cert(d / "ca.pem").subject


def test_ensure_pki_makes_one_when_missing(tmp_path):
    made = ensure_pki(tmp_path / "new", passphrase=PASSPHRASE)
    assert [c["role"] for c in made["certificates"]] == ["ca", "school", "principal"]
    assert [c.get("school_code") for c in made["certificates"]] == [None, "DEMO", "DEMO"]


def test_ec_keys(tmp_path):
    d = make_pki(tmp_path / "ec", key_type="ec")
    add_schools(d, schools=["HN-02"], passphrase=PASSPHRASE)  # the CA's key type
    for role in ("ca.pem", "DEMO/school.pem", "DEMO/principal.pem", "HN-02/school.pem"):
        pub = _cert(d / role).public_key()
        assert isinstance(pub, ec.EllipticCurvePublicKey) and pub.curve.name == "secp256r1"
    keys = keys_for(d)
    assert keys.school.is_ec and keys.principal.is_ec


def test_empty_passphrase_refused(tmp_path):
    with pytest.raises(ConfigError, match="passphrase"):
        init_pki(tmp_path / "p", passphrase="")


# --- the CLI ----------------------------------------------------------------------------------------------
def test_cli_pki_init(tmp_path, hocba_home, monkeypatch):
    from pipelines.cli import main

    monkeypatch.setenv("HOCBA_PKI_PASSPHRASE", PASSPHRASE)
    get_settings.cache_clear()
    runner = CliRunner()
    res = runner.invoke(main, ["pki", "init"])
    assert res.exit_code == 0, res.output
    pki_root = hocba_home.resolve() / "pki"
    assert (pki_root / "ca.pem").exists() and (pki_root / "DEMO" / "school.p12").exists()
    ca = _cert(pki_root / "ca.pem")
    assert ca.fingerprint(hashes.SHA256()).hex() in res.output  # fingerprints printed
    assert "Nguyễn Văn A" in res.output and "school.p12" in res.output and "→" in res.output
    # a second run refuses, with the configuration exit code and a message saying why
    res2 = runner.invoke(main, ["pki", "init"])
    assert res2.exit_code == ExitCode.setting
    assert "already exists" in res2.output
    res3 = runner.invoke(main, ["pki", "init", str(tmp_path / "other"), "--key-type", "ec",
                                "--school-code", "HN-01", "--principal-name", "Trần Thị B"])
    assert res3.exit_code == 0, res3.output
    assert "Trần Thị B" in res3.output and "(EC)" in res3.output
    # several schools at once, each with its own pair; and one more added to the same CA later
    res4 = runner.invoke(main, ["pki", "init", str(tmp_path / "many"), "--school-code", "79760401",
                                "--school-name", "Trường THCS Lê Lợi", "--school-code", "79760402"])
    assert res4.exit_code == 0, res4.output
    for code in ("79760401", "79760402"):
        assert (tmp_path / "many" / code / "school.p12").exists() and f"VN-{code}" in res4.output
    assert "Trường THCS Lê Lợi" in res4.output
    res5 = runner.invoke(main, ["pki", "init", str(tmp_path / "many"), "--add", "--school-code", "79760403"])
    assert res5.exit_code == 0, res5.output
    many_ca = _cert(tmp_path / "many" / "ca.pem")
    assert _cert(tmp_path / "many" / "79760403" / "school.pem").issuer == many_ca.subject
    res6 = runner.invoke(main, ["pki", "init", str(tmp_path / "many"), "--add", "--school-code", "79760401"])
    assert res6.exit_code == ExitCode.setting and "already have keys" in res6.output


# --- loading keys -----------------------------------------------------------------------------------------
def test_keys_load_once_per_process(pki):
    s = settings_for(pki)
    first = keys_mod.signing_keys("DEMO", s)
    assert keys_mod.signing_keys("DEMO", settings_for(pki)) is first
    assert first.school.name == "school" and first.principal.name == "principal"
    assert first.school_code == "DEMO" and first.for_school("DEMO") is first
    assert first.pdf_order == (first.principal, first.school)
    assert first.principal.certificate == _cert(pki / "DEMO" / "principal.pem")
    assert first.principal.chain[-1] == _cert(pki / "ca.pem")
    fp = _cert(pki / "DEMO" / "principal.pem").fingerprint(hashes.SHA256()).hex()
    assert first.principal.summary() == {"role": "principal", "subject": first.principal.subject,
                                         "sha256": fp}
    assert keys_mod.school_keys(s).for_school("DEMO") is first
    # one school's pair does not stand in for another school's
    with pytest.raises(SchoolKeyMissing, match=r"school 79760401.*only the keys of school DEMO"):
        first.for_school("79760401")


def test_keys_reload_after_the_pki_is_replaced(tmp_path):
    d = make_pki(tmp_path / "pki")
    old = keys_for(d)
    init_pki(d, passphrase=PASSPHRASE, force=True)
    new = keys_for(d)
    assert new is not old and new.school.sha256 != old.school.sha256


def test_missing_keys_name_the_school_and_where_they_were_looked_for(tmp_path, hocba_home):
    get_settings.cache_clear()
    with pytest.raises(SchoolKeyMissing, match="hocba pki init") as exc:
        keys_mod.signing_keys("79760401")  # the settings' default: HOCBA_HOME/pki/<school>/*.p12
    msg = str(exc.value)
    assert "79760401" in msg and str(hocba_home.resolve() / "pki" / "79760401" / "school.p12") in msg
    assert exc.value.exit_code == ExitCode.setting and isinstance(exc.value, ConfigError)
    # a PKI with other schools' keys: still this school's are missing
    d = make_pki(tmp_path / "pki", schools=["79760402"])
    with pytest.raises(SchoolKeyMissing, match=r"school 79760401.*pki/79760401/school\.p12"):
        keys_mod.signing_keys("79760401", settings_for(d))
    # HOCBA_KEYS_DIR: the keys elsewhere than the development PKI
    assert keys_mod.signing_keys("79760402", settings_for(tmp_path / "nowhere", keys_dir=d)).school_code == \
        "79760402"
    # the old one-pair layout is named, with what to do
    (d / "79760402" / "school.p12").rename(d / "school.p12")
    with pytest.raises(SchoolKeyMissing, match="old one-pair layout"):
        keys_mod.signing_keys("79760402", settings_for(d))
    with pytest.raises(SigningKeyError, match="cannot name a signing key"):
        keys_mod.signing_keys("../79760402", settings_for(d))


def test_wrong_passphrase_is_a_config_error(pki):
    with pytest.raises(ConfigError, match="PASSPHRASE"):
        keys_mod.signing_keys("DEMO", Settings(pki_dir=pki, pki_passphrase="sai mật khẩu"))


def test_expired_certificate_refused(tmp_path, pki):
    """A key whose certificate has expired is not used: the message says to renew it."""
    ca = _cert(pki / "ca.pem")
    ca_key = serialization.load_pem_private_key((pki / "ca.key.pem").read_bytes(), PASSPHRASE.encode())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cũ")]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(past).not_valid_after(past + dt.timedelta(days=30))
            .sign(ca_key, hashes.SHA256()))
    keys_dir = tmp_path / "keys"
    (keys_dir / "OLD").mkdir(parents=True)
    (keys_dir / "OLD" / "school.p12").write_bytes(pkcs12.serialize_key_and_certificates(
        b"old", key, cert, [ca], serialization.BestAvailableEncryption(PASSPHRASE.encode())))
    (keys_dir / "OLD" / "principal.p12").write_bytes((pki / "DEMO" / "principal.p12").read_bytes())
    with pytest.raises(ConfigError, match="renew"):
        keys_mod.signing_keys("OLD", Settings(pki_dir=pki, pki_passphrase=PASSPHRASE, keys_dir=keys_dir))
