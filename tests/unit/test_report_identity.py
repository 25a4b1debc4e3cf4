"""The report-signing identity: created at init, loaded from the key directory or the
user's own PKCS#12 / PEM, refused with a clear error when something is wrong."""

from __future__ import annotations

import hashlib
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from auditml.config import DEFAULT_SIGNATURE_MEANING, Settings, load_settings
from auditml.errors import ConfigError, SignatureError
from auditml.report.identity import (
    DOCUMENT_SIGNING,
    SigningIdentity,
    create_signing_identity,
    fingerprint,
    load_certificate,
    load_signing_certificates,
    load_signing_identity,
)

SECRET = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _no_signer_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDITML_SIGNER_PASSPHRASE", raising=False)


def make(key_dir: Path) -> SigningIdentity:
    return create_signing_identity(
        key_dir, organisation="Bank Example", name="Jane Doe", role="DPO", meaning="I attest."
    )


def test_creates_ca_and_signing_certificate(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    identity = make(key_dir)
    for name in ("report-ca.key", "report-signing.key"):
        assert stat.S_IMODE((key_dir / name).stat().st_mode) == 0o600
    assert "*" in (key_dir / ".gitignore").read_text()
    ca = load_certificate(key_dir / "report-ca.pem")
    cert = load_certificate(key_dir / "report-signing.pem")
    assert cert == identity.certificate and identity.chain == (ca,)
    cert.verify_directly_issued_by(ca)
    ca.verify_directly_issued_by(ca)
    # RSA keeps signed reports PDF 1.7 (docs/adr/0004); the CA may stay ECDSA.
    assert isinstance(identity.key, rsa.RSAPrivateKey) and identity.key.key_size == 3072
    ca_key = ca.public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey) and ca_key.curve.name == "secp256r1"

    basic = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    ca_usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ca_usage.key_cert_sign and ca_usage.crl_sign and not ca_usage.digital_signature
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ca.not_valid_after_utc - ca.not_valid_before_utc >= timedelta(days=3650)

    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]
    assert DOCUMENT_SIGNING.dotted_string.endswith(".3.36")
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest
    assert timedelta(days=1090) < cert.not_valid_after_utc - cert.not_valid_before_utc
    assert cert.not_valid_after_utc - cert.not_valid_before_utc < timedelta(days=1100)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Jane Doe"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "Bank Example"
    )
    assert (identity.name, identity.role, identity.meaning) == ("Jane Doe", "DPO", "I attest.")


def test_fingerprint_is_sha256_of_der(tmp_path: Path) -> None:
    cert = make(tmp_path).certificate
    der = cert.public_bytes(serialization.Encoding.DER)
    assert fingerprint(cert) == hashlib.sha256(der).hexdigest()
    assert len(fingerprint(cert)) == 64 and ":" not in fingerprint(cert)


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    first = make(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        make(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert load_signing_identity(Settings(key_dir=tmp_path)).certificate == first.certificate


def test_refuses_when_only_one_file_exists(tmp_path: Path) -> None:
    (tmp_path / "report-ca.key").write_text("old")
    with pytest.raises(ConfigError, match="report-ca.key already exists"):
        make(tmp_path)
    assert not (tmp_path / "report-signing.pem").exists()


def test_load_from_key_dir_uses_defaults(tmp_path: Path) -> None:
    created = make(tmp_path)
    loaded = load_signing_identity(Settings(key_dir=tmp_path))
    assert loaded.certificate == created.certificate and loaded.chain == created.chain
    assert loaded.name == "Jane Doe"  # the certificate's CN
    assert loaded.role == "Compliance officer" and loaded.meaning == DEFAULT_SIGNATURE_MEANING
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert loaded.key.public_key().public_bytes(*spki) == (
        created.key.public_key().public_bytes(*spki)
    )
    assert load_signing_certificates(Settings(key_dir=tmp_path)) == (
        created.certificate,
        created.chain,
    )


def test_name_role_meaning_from_auditml_toml(isolated: Path) -> None:
    make(isolated / "keys")
    (isolated / "auditml.toml").write_text(
        '[auditml]\nkey_dir = "keys"\nsigner_name = "J. Doe"\nsigner_role = "DPO"\n'
        'signature_meaning = "Reviewed."\n'
    )
    loaded = load_signing_identity(load_settings())
    assert (loaded.name, loaded.role, loaded.meaning) == ("J. Doe", "DPO", "Reviewed.")


def test_passphrase_encrypted_key_needs_the_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDITML_KEY_PASSPHRASE", SECRET)
    make(tmp_path)
    pem = (tmp_path / "report-signing.key").read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in pem
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / "report-ca.key").read_bytes()
    assert load_signing_identity(Settings(key_dir=tmp_path)).name == "Jane Doe"

    monkeypatch.delenv("AUDITML_KEY_PASSPHRASE")
    with pytest.raises(ConfigError, match="is encrypted; set AUDITML_KEY_PASSPHRASE"):
        load_signing_identity(Settings(key_dir=tmp_path))
    monkeypatch.setenv("AUDITML_KEY_PASSPHRASE", "hunter2-nope")
    with pytest.raises(ConfigError, match="wrong passphrase") as caught:
        load_signing_identity(Settings(key_dir=tmp_path))
    assert "hunter2-nope" not in str(caught.value) and SECRET not in str(caught.value)


def test_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    make(tmp_path)
    (tmp_path / "report-signing.key").chmod(0o640)
    with pytest.raises(ConfigError, match="readable by others.*chmod 600"):
        load_signing_identity(Settings(key_dir=tmp_path))


def test_missing_identity_says_run_init(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="run `auditml init`"):
        load_signing_identity(Settings(key_dir=tmp_path))
    with pytest.raises(ConfigError, match="run `auditml init`"):
        load_signing_certificates(Settings(key_dir=tmp_path))
    make(tmp_path)
    (tmp_path / "report-signing.key").unlink()
    with pytest.raises(ConfigError, match="no signing key at"):
        load_signing_identity(Settings(key_dir=tmp_path))


def test_mismatched_key_is_refused(tmp_path: Path) -> None:
    identity = make(tmp_path / "a")
    other = make(tmp_path / "b")
    key_path = tmp_path / "other.key"
    key_path.write_bytes(_pem_key(other.key))
    key_path.chmod(0o600)
    cert_path = tmp_path / "cert.pem"
    cert_path.write_bytes(identity.certificate.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(ConfigError, match="does not match the certificate"):
        load_signing_identity(Settings(signer_key=key_path, signer_cert=cert_path))


def test_own_pem_key_cert_and_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key, cert, ca = _external_identity()
    key_path = tmp_path / "signer.key"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(SECRET.encode()),
        )
    )
    key_path.chmod(0o600)
    cert_path = tmp_path / "signer.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    chain_path = tmp_path / "chain.pem"
    chain_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    settings = Settings(
        key_dir=tmp_path / "unused", signer_key=key_path, signer_cert=cert_path,
        signer_chain=chain_path,
    )  # fmt: skip
    with pytest.raises(ConfigError, match="AUDITML_SIGNER_PASSPHRASE"):
        load_signing_identity(settings)
    monkeypatch.setenv("AUDITML_SIGNER_PASSPHRASE", SECRET)
    loaded = load_signing_identity(settings)
    assert loaded.certificate == cert and loaded.chain == (ca,) and loaded.name == "Ext Signer"
    with pytest.raises(ConfigError, match="set both signer_key and signer_cert"):
        load_signing_identity(Settings(signer_key=key_path))


def test_pkcs12_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key, cert, ca = _external_identity()
    path = tmp_path / "signer.p12"
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"signer", key, cert, [ca], serialization.BestAvailableEncryption(SECRET.encode())
        )
    )
    path.chmod(0o600)
    settings = Settings(key_dir=tmp_path / "unused", signer_pkcs12=path, signer_role="Auditor")
    with pytest.raises(ConfigError, match="wrong or missing passphrase"):
        load_signing_identity(settings)
    monkeypatch.setenv("AUDITML_SIGNER_PASSPHRASE", "not it")
    with pytest.raises(ConfigError, match="wrong or missing passphrase") as caught:
        load_signing_identity(settings)
    assert "not it" not in str(caught.value)
    monkeypatch.setenv("AUDITML_SIGNER_PASSPHRASE", SECRET)
    loaded = load_signing_identity(settings)
    assert loaded.certificate == cert and loaded.chain == (ca,)
    assert (loaded.name, loaded.role) == ("Ext Signer", "Auditor")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        load_signing_identity(settings)


def test_pkcs12_path_from_auditml_toml_is_relative_to_it(isolated: Path) -> None:
    (isolated / "auditml.toml").write_text('[auditml]\nsigner_pkcs12 = "certs/me.p12"\n')
    assert load_settings().signer_pkcs12 == isolated / "certs" / "me.p12"


def test_chain_not_issuing_the_certificate_is_refused(tmp_path: Path) -> None:
    key, cert, _ = _external_identity()
    _, _, stranger = _external_identity()
    key_path = tmp_path / "k.pem"
    key_path.write_bytes(_pem_key(key))
    key_path.chmod(0o600)
    cert_path = tmp_path / "c.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    chain_path = tmp_path / "chain.pem"
    chain_path.write_bytes(stranger.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(SignatureError, match="signing chain is broken"):
        load_signing_identity(
            Settings(signer_key=key_path, signer_cert=cert_path, signer_chain=chain_path)
        )


def test_expired_certificate_is_refused(tmp_path: Path) -> None:
    key, cert, _ = _external_identity(expired=True)
    key_path = tmp_path / "k.pem"
    key_path.write_bytes(_pem_key(key))
    key_path.chmod(0o600)
    cert_path = tmp_path / "c.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(ConfigError, match="renew it"):
        load_signing_identity(Settings(signer_key=key_path, signer_cert=cert_path))


def _pem_key(key: object) -> bytes:
    assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _external_identity(
    *, expired: bool = False
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, x509.Certificate]:
    """A signer certificate from some other CA, as a user might bring their own."""
    now = datetime.now(UTC)
    start = now - timedelta(days=800 if expired else 1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ext CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ext Signer")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=365))
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert, ca
