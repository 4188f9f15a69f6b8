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

from pipelines.errors import ConfigError
from pipelines.issue import keys as keys_mod
from pipelines.issue.pki import DOCUMENT_SIGNING, ensure_pki, init_pki
from pipelines.settings import Settings, get_settings
from tests.issue.signing import PASSPHRASE, keys_for, make_pki, settings_for


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki") / "pki")


def _cert(path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_init_makes_ca_and_two_signing_certificates(pki):
    names = {p.name for p in pki.iterdir() if not p.name.startswith(".")}
    assert names == {"ca.pem", "ca.key.pem", "school.p12", "school.pem", "principal.p12", "principal.pem"}
    # private material readable by the owner only
    for secret in ("ca.key.pem", "school.p12", "principal.p12"):
        assert stat.S_IMODE((pki / secret).stat().st_mode) == 0o600, secret
    assert stat.S_IMODE(pki.stat().st_mode) == 0o700
    # the CA key is encrypted with the passphrase
    with pytest.raises(TypeError):
        serialization.load_pem_private_key((pki / "ca.key.pem").read_bytes(), None)
    serialization.load_pem_private_key((pki / "ca.key.pem").read_bytes(), PASSPHRASE.encode())

    ca = _cert(pki / "ca.pem")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    for role in ("school", "principal"):
        cert = _cert(pki / f"{role}.pem")
        assert cert.issuer == ca.subject
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
        assert ku.critical and ku.value.digital_signature and ku.value.content_commitment
        assert not ku.value.key_cert_sign
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert DOCUMENT_SIGNING in eku and ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
        assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert isinstance(cert.public_key(), rsa.RSAPublicKey) and cert.public_key().key_size == 2048
        assert cert.not_valid_before_utc <= dt.datetime.now(dt.UTC) <= cert.not_valid_after_utc
    principal = _cert(pki / "principal.pem")
    assert principal.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Nguyễn Văn A"
    assert principal.subject.get_attributes_for_oid(NameOID.TITLE)[0].value == "Hiệu trưởng"
    school = _cert(pki / "school.pem")
    assert school.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Trường THCS Demo"


def test_openssl_accepts_the_chain(pki):
    out = subprocess.run(["openssl", "verify", "-CAfile", str(pki / "ca.pem"), str(pki / "school.pem"),
                          str(pki / "principal.pem")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count(": OK") == 2


def test_pkcs12_holds_key_certificate_and_ca(pki):
    p12 = (pki / "principal.p12").read_bytes()
    key, cert, extra = pkcs12.load_key_and_certificates(p12, PASSPHRASE.encode())
    assert cert == _cert(pki / "principal.pem")
    assert extra == [_cert(pki / "ca.pem")]
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates((pki / "principal.p12").read_bytes(), b"wrong")


def test_refuses_to_replace_a_ca_unless_forced(tmp_path):
    d = make_pki(tmp_path / "pki")
    before = _cert(d / "ca.pem").fingerprint(hashes.SHA256())
    with pytest.raises(ConfigError, match="already exists"):
        init_pki(d, passphrase=PASSPHRASE)
    assert _cert(d / "ca.pem").fingerprint(hashes.SHA256()) == before
    # ensure_pki keeps what is there
    assert ensure_pki(d, passphrase=PASSPHRASE)["certificates"][0]["sha256"] == before.hex()
    init_pki(d, passphrase=PASSPHRASE, force=True, school_name="Trường THPT Chu Văn An")
    assert _cert(d / "ca.pem").fingerprint(hashes.SHA256()) != before
    school = _cert(d / "school.pem")
    assert school.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == \
        "Trường THPT Chu Văn An"
    assert school.issuer == _cert(d / "ca.pem").subject


def test_ensure_pki_makes_one_when_missing(tmp_path):
    made = ensure_pki(tmp_path / "new", passphrase=PASSPHRASE)
    assert [c["role"] for c in made["certificates"]] == ["ca", "school", "principal"]


def test_ec_keys(tmp_path):
    d = make_pki(tmp_path / "ec", key_type="ec")
    for role in ("ca", "school", "principal"):
        pub = _cert(d / f"{role}.pem").public_key()
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
    assert (pki_root / "ca.pem").exists() and (pki_root / "school.p12").exists()
    ca = _cert(pki_root / "ca.pem")
    assert ca.fingerprint(hashes.SHA256()).hex() in res.output  # fingerprints printed
    assert "Nguyễn Văn A" in res.output and "school.p12" in res.output and "→" in res.output
    # a second run refuses, with the configuration exit code and a message saying why
    res2 = runner.invoke(main, ["pki", "init"])
    assert res2.exit_code == 2
    assert "already exists" in res2.output
    res3 = runner.invoke(main, ["pki", "init", str(tmp_path / "other"), "--key-type", "ec",
                                "--school-code", "HN-01", "--principal-name", "Trần Thị B"])
    assert res3.exit_code == 0, res3.output
    assert "Trần Thị B" in res3.output and "(EC)" in res3.output


# --- loading keys -----------------------------------------------------------------------------------------
def test_keys_load_once_per_process(pki):
    s = settings_for(pki)
    first = keys_mod.signing_keys(s)
    assert keys_mod.signing_keys(settings_for(pki)) is first
    assert first.school.name == "school" and first.principal.name == "principal"
    assert first.pdf_order == (first.principal, first.school)
    assert first.principal.certificate == _cert(pki / "principal.pem")
    assert first.principal.chain[-1] == _cert(pki / "ca.pem")
    fp = _cert(pki / "principal.pem").fingerprint(hashes.SHA256()).hex()
    assert first.principal.summary() == {"role": "principal", "subject": first.principal.subject,
                                         "sha256": fp}


def test_keys_reload_after_the_pki_is_replaced(tmp_path):
    d = make_pki(tmp_path / "pki")
    old = keys_for(d)
    init_pki(d, passphrase=PASSPHRASE, force=True)
    new = keys_for(d)
    assert new is not old and new.school.sha256 != old.school.sha256


def test_missing_keys_say_to_run_pki_init(tmp_path, hocba_home):
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="hocba pki init") as exc:
        keys_mod.signing_keys()  # the settings' default: HOCBA_HOME/pki/*.p12
    assert "school.p12" in str(exc.value)
    assert exc.value.exit_code == 2


def test_wrong_passphrase_is_a_config_error(pki):
    with pytest.raises(ConfigError, match="PASSPHRASE"):
        keys_mod.signing_keys(Settings(pki_dir=pki, pki_passphrase="sai mật khẩu"))


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
    p12 = tmp_path / "old.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"old", key, cert, [ca], serialization.BestAvailableEncryption(PASSPHRASE.encode())))
    with pytest.raises(ConfigError, match="renew"):
        keys_mod.signing_keys(Settings(pki_dir=pki, pki_passphrase=PASSPHRASE, school_p12=p12))
