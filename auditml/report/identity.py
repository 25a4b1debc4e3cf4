"""The report-signing identity: an organisation CA and a report-signing certificate.

`auditml init` creates both in the key directory: the CA's key is ECDSA P-256, the
report-signing key RSA-3072, because an ECDSA signature makes pyHanko declare the report
PDF 2.0 while PDF/A-3b is PDF 1.7 (docs/adr/0006-rsa-report-signatures.md). A user may
instead name their own PKCS#12 or PEM key and certificate in auditml.toml. `fingerprint`
gives the SHA-256 people compare out of band.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from auditml.config import Settings
from auditml.errors import ConfigError, SignatureError
from auditml.ledger.keys import (
    PASSPHRASE_ENV,
    ignore_in_git,
    read_secret,
    write_private,
    write_public,
)


@dataclass(frozen=True)
class SigningIdentity:
    """Who signs reports, with what, and what the signature means."""

    key: CertificateIssuerPrivateKeyTypes
    certificate: x509.Certificate
    #: Issuers of `certificate`, nearest first, ending with the organisation CA.
    chain: tuple[x509.Certificate, ...]
    #: Printed on the report and put in the signature dictionary.
    name: str
    role: str
    meaning: str


CA_CERT_FILE = "report-ca.pem"
CA_KEY_FILE = "report-ca.key"
SIGNING_CERT_FILE = "report-signing.pem"
SIGNING_KEY_FILE = "report-signing.key"
IDENTITY_FILES = (CA_CERT_FILE, CA_KEY_FILE, SIGNING_CERT_FILE, SIGNING_KEY_FILE)
SIGNER_PASSPHRASE_ENV = "AUDITML_SIGNER_PASSPHRASE"  # noqa: S105 (the variable name)
#: id-kp-documentSigning (RFC 9336).
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
#: The signing certificate's extended key usages. Document signing says what it is for;
#: email protection is what NSS (poppler's pdfsig) and Acrobat accept for a PDF signer:
#: without it pdfsig never reports the certificate as trusted, whatever CA you import.
SIGNING_KEY_PURPOSES = (DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION)
#: RSA with PKCS#1 v1.5 and SHA-256 is in ISO 32000-1 (PDF 1.7, on which PDF/A-3 is based);
#: 3072 bits is NIST's 128-bit level, for signatures that must hold for years.
SIGNING_KEY_BITS = 3072
#: The CA is named after the organisation it signs for.
CA_NAME_SUFFIX = " report signing CA"
#: RFC 5280's ub-common-name, which cryptography counts in bytes of UTF-8.
MAX_COMMON_NAME = 64
CA_VALIDITY = timedelta(days=3653)
SIGNING_VALIDITY = timedelta(days=1096)


def fingerprint(cert: x509.Certificate) -> str:
    """Return the certificate's SHA-256 fingerprint: lowercase hex of SHA-256(DER), no colons."""
    return cert.fingerprint(hashes.SHA256()).hex()


def check_new_signing_identity(
    key_dir: Path, *, organisation: str, name: str
) -> tuple[x509.Name, x509.Name]:
    """Return the names `create_signing_identity` would give the CA and the signing
    certificate; write nothing.

    Raises ConfigError if one of the identity files exists in key_dir, or the organisation
    or the signer name is empty or does not fit in a certificate.
    """
    existing = [key_dir / f for f in IDENTITY_FILES if (key_dir / f).exists()]
    if existing:
        raise ConfigError(
            f"{existing[0]} already exists; refusing to overwrite the report-signing identity. "
            "Move the report-* files out of the key directory first to make a new one"
        )
    if not organisation.strip() or not name.strip():
        raise ConfigError("the report-signing identity needs an organisation and a signer name")
    ca_common_name = organisation + CA_NAME_SUFFIX
    if len(ca_common_name.encode()) > MAX_COMMON_NAME:
        raise ConfigError(
            f"the organisation name is too long for the report-signing certificates: "
            f"{len(organisation.encode())} bytes of UTF-8, at most "
            f"{MAX_COMMON_NAME - len(CA_NAME_SUFFIX)} (the CA is named "
            f"'ORGANISATION{CA_NAME_SUFFIX}', and a certificate's common name holds "
            f"{MAX_COMMON_NAME}); give a shorter `auditml init --organisation`"
        )
    if len(name.encode()) > MAX_COMMON_NAME:
        raise ConfigError(
            f"the signer name is too long for the report-signing certificate: "
            f"{len(name.encode())} bytes of UTF-8, at most {MAX_COMMON_NAME}; give a shorter "
            "`auditml init --signer-name` (or signer_name in auditml.toml)"
        )
    org = x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation)
    return (
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_common_name), org]),
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name), org]),
    )


def create_signing_identity(
    key_dir: Path, *, organisation: str, name: str, role: str, meaning: str
) -> SigningIdentity:
    """Create an organisation CA and a report-signing certificate issued by it in key_dir.

    Writes report-ca.pem, report-ca.key, report-signing.pem and report-signing.key (keys
    PKCS#8 with mode 0600, encrypted with AUDITML_KEY_PASSPHRASE when it is set).
    Raises ConfigError, before writing anything, as `check_new_signing_identity` does.
    """
    ca_name, subject = check_new_signing_identity(key_dir, organisation=organisation, name=name)
    now = datetime.now(UTC) - timedelta(minutes=5)  # tolerate clock skew of readers
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key, cert = _issue_signing_certificate(ca_key, ca_cert, subject)
    encryption = _encryption(os.environ.get(PASSPHRASE_ENV))
    write_private(key_dir / CA_KEY_FILE, _pkcs8(ca_key, encryption))
    write_public(key_dir / CA_CERT_FILE, ca_cert.public_bytes(Encoding.PEM).decode())
    write_private(key_dir / SIGNING_KEY_FILE, _pkcs8(key, encryption))
    write_public(key_dir / SIGNING_CERT_FILE, cert.public_bytes(Encoding.PEM).decode())
    ignore_in_git(key_dir)
    return SigningIdentity(key, cert, (ca_cert,), name, role, meaning)


def _issue_signing_certificate(
    ca_key: CertificateIssuerPrivateKeyTypes, ca_cert: x509.Certificate, subject: x509.Name
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A new RSA report-signing key and its certificate, issued by the CA (of any key type)."""
    now = datetime.now(UTC) - timedelta(minutes=5)  # tolerate clock skew of readers
    key = rsa.generate_private_key(public_exponent=65537, key_size=SIGNING_KEY_BITS)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + SIGNING_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, content_commitment=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage(SIGNING_KEY_PURPOSES), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def rotate_signing_certificate(settings: Settings) -> x509.Certificate:
    """Replace the key directory's report-signing key and certificate with new ones from
    the same CA and subject; return the new certificate.

    Reports signed before still verify: each carries its own certificate, and the CA is
    unchanged. The new key is RSA whatever the old one was, so this is also how a key
    directory made with an ECDSA signing key moves to one that keeps reports PDF 1.7.
    Raises ConfigError when reports are signed with a certificate of your own (rotate
    that with your CA) or the key directory holds no identity.
    """
    if settings.signer_pkcs12 or settings.signer_key:
        raise ConfigError(
            "reports are signed with your own certificate (signer_pkcs12 / signer_key in "
            "auditml.toml): rotate it with your CA and point auditml.toml at the new one"
        )
    key_dir = settings.key_dir
    ca_cert = load_certificate(key_dir / CA_CERT_FILE)
    ca_key = _issuer_key(_load_key(key_dir / CA_KEY_FILE, PASSPHRASE_ENV), key_dir / CA_KEY_FILE)
    old = load_certificate(key_dir / SIGNING_CERT_FILE)
    key, cert = _issue_signing_certificate(ca_key, ca_cert, old.subject)
    encryption = _encryption(os.environ.get(PASSPHRASE_ENV))
    # New files beside the old, then renamed over them: never a key without its certificate.
    for name, data in (
        (SIGNING_KEY_FILE, _pkcs8(key, encryption)),
        (SIGNING_CERT_FILE, cert.public_bytes(Encoding.PEM)),
    ):
        staged = key_dir / f"{name}.next"
        staged.unlink(missing_ok=True)
        write_private(staged, data)
    for name in (SIGNING_KEY_FILE, SIGNING_CERT_FILE):
        os.replace(key_dir / f"{name}.next", key_dir / name)
    os.chmod(key_dir / SIGNING_CERT_FILE, 0o644)
    return cert


def load_signing_identity(settings: Settings) -> SigningIdentity:
    """Load who signs reports, as settings say.

    From signer_pkcs12 if set, else signer_key + signer_cert (+ signer_chain), else the key
    directory's report-signing files. Name, role and meaning come from settings (the name
    defaults to the certificate's CN). Raises ConfigError for a missing or unreadable file, a
    key readable by others, a wrong or missing passphrase, a key that does not match its
    certificate, or a certificate that is not valid now; SignatureError when the chain does
    not verify.
    """
    if settings.signer_pkcs12 is not None:
        key, cert, pool = _load_pkcs12(settings.signer_pkcs12)
    elif settings.signer_key is not None or settings.signer_cert is not None:
        if settings.signer_key is None or settings.signer_cert is None:
            raise ConfigError(
                "set both signer_key and signer_cert in auditml.toml (or use signer_pkcs12)"
            )
        key = _load_key(settings.signer_key, SIGNER_PASSPHRASE_ENV)
        cert = load_certificate(settings.signer_cert)
        pool = [] if settings.signer_chain is None else _load_certs(settings.signer_chain)
    else:
        key_dir = settings.key_dir
        if not (key_dir / SIGNING_KEY_FILE).exists() and not (key_dir / SIGNING_CERT_FILE).exists():
            raise ConfigError(
                f"no report-signing identity in {key_dir}; run `auditml init`, or set "
                "signer_pkcs12 or signer_key + signer_cert in auditml.toml"
            )
        key = _load_key(key_dir / SIGNING_KEY_FILE, PASSPHRASE_ENV)
        cert = load_certificate(key_dir / SIGNING_CERT_FILE)
        pool = [load_certificate(key_dir / CA_CERT_FILE)]
    _check_pair(key, cert)
    _check_usable(cert)
    chain = _order_chain(cert, pool)
    return SigningIdentity(
        key=key,
        certificate=cert,
        chain=chain,
        name=settings.signer_name or _common_name(cert),
        role=settings.signer_role,
        meaning=settings.signature_meaning,
    )


def load_signing_certificates(
    settings: Settings,
) -> tuple[x509.Certificate, tuple[x509.Certificate, ...]]:
    """Return the report-signing certificate and its issuers (nearest first), as settings say.

    Reads no private key, except that a PKCS#12 file is opened whole (it needs its passphrase).
    Raises ConfigError when the files are missing or unreadable, SignatureError when the
    chain does not verify.
    """
    if settings.signer_pkcs12 is not None:
        identity = load_signing_identity(settings)
        return identity.certificate, identity.chain
    if settings.signer_cert is not None:
        cert = load_certificate(settings.signer_cert)
        pool = [] if settings.signer_chain is None else _load_certs(settings.signer_chain)
    else:
        cert_path = settings.key_dir / SIGNING_CERT_FILE
        if not cert_path.exists():
            raise ConfigError(
                f"no report-signing certificate in {settings.key_dir}; run `auditml init`, or "
                "set signer_pkcs12 or signer_key + signer_cert in auditml.toml"
            )
        cert = load_certificate(cert_path)
        pool = [load_certificate(settings.key_dir / CA_CERT_FILE)]
    return cert, _order_chain(cert, pool)


def load_certificate(path: Path) -> x509.Certificate:
    """Read one PEM certificate; raise ConfigError if the file is missing or holds not one."""
    certs = _load_certs(path)
    if len(certs) != 1:
        raise ConfigError(f"{path} holds {len(certs)} certificates; expected one")
    return certs[0]


# -- helpers --------------------------------------------------------------------------


def _key_usage(
    *,
    digital_signature: bool = False,
    content_commitment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _encryption(passphrase: str | None) -> serialization.KeySerializationEncryption:
    if passphrase:
        return serialization.BestAvailableEncryption(passphrase.encode())
    return serialization.NoEncryption()


def _pkcs8(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    encryption: serialization.KeySerializationEncryption,
) -> bytes:
    return key.private_bytes(Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def _read_secret(path: Path) -> bytes:
    """Read a private key file, refusing one that is missing or others could read or swap."""
    return read_secret(path, f"no signing key at {path}; check the path in auditml.toml")


def _passphrase(env: str) -> bytes | None:
    value = os.environ.get(env)
    return value.encode() if value else None


def _load_key(path: Path, env: str) -> CertificateIssuerPrivateKeyTypes:
    data = _read_secret(path)
    try:
        key = serialization.load_pem_private_key(data, password=_passphrase(env))
    except TypeError as exc:
        # Encrypted without a passphrase given, or a passphrase given for a plain key.
        state = "is not encrypted; unset" if os.environ.get(env) else "is encrypted; set"
        raise ConfigError(f"{path} {state} {env}") from exc
    except ValueError as exc:
        raise ConfigError(
            f"cannot load {path}: wrong passphrase in {env}, or not a PEM private key"
        ) from exc
    return _issuer_key(key, path)


def _issuer_key(key: object, path: Path) -> CertificateIssuerPrivateKeyTypes:
    if not isinstance(
        key,
        rsa.RSAPrivateKey
        | ec.EllipticCurvePrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey
        | dsa.DSAPrivateKey,
    ):
        raise ConfigError(f"{path} holds a {type(key).__name__}, which cannot sign; use EC or RSA")
    return key


def _load_pkcs12(
    path: Path,
) -> tuple[CertificateIssuerPrivateKeyTypes, x509.Certificate, list[x509.Certificate]]:
    data = _read_secret(path)
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(
            data, _passphrase(SIGNER_PASSPHRASE_ENV)
        )
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"cannot open {path}: wrong or missing passphrase in {SIGNER_PASSPHRASE_ENV}, "
            "or not a PKCS#12 file"
        ) from exc
    if key is None or cert is None:
        raise ConfigError(f"{path} must hold the signing key and its certificate")
    return _issuer_key(key, path), cert, list(extra)


def _load_certs(path: Path) -> list[x509.Certificate]:
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"no certificate file at {path}; check the path") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read certificate file {path}: {exc.strerror}") from exc
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ConfigError(f"{path} is not a PEM certificate file") from exc


def _check_pair(key: CertificateIssuerPrivateKeyTypes, cert: x509.Certificate) -> None:
    spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        raise ConfigError(
            f"the signing key does not match the certificate for {cert.subject.rfc4514_string()} "
            f"(fingerprint {fingerprint(cert)}); configure the key that belongs to it"
        )


def _check_usable(cert: x509.Certificate) -> None:
    now = datetime.now(UTC)
    who = cert.subject.rfc4514_string()
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise ConfigError(
            f"the signing certificate for {who} is valid only from "
            f"{cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d}; "
            "renew it or configure another"
        )
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not (usage.digital_signature or usage.content_commitment):
        raise ConfigError(f"the certificate for {who} is not allowed to sign (KeyUsage)")


def _order_chain(
    cert: x509.Certificate, pool: list[x509.Certificate]
) -> tuple[x509.Certificate, ...]:
    """Order issuers nearest first, checking each link's signature."""
    chain: list[x509.Certificate] = []
    current = cert
    remaining = [c for c in pool if c != cert]
    while current.issuer != current.subject:
        issuer = next((c for c in remaining if c.subject == current.issuer), None)
        if issuer is None:
            break
        try:
            current.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise SignatureError(
                f"the certificate for {current.subject.rfc4514_string()} was not issued by "
                f"{issuer.subject.rfc4514_string()} (fingerprint {fingerprint(issuer)}): "
                "the signing chain is broken; configure the right chain"
            ) from exc
        chain.append(issuer)
        remaining.remove(issuer)
        current = issuer
    if pool and not chain:
        raise SignatureError(
            f"none of the chain certificates issued {cert.subject.rfc4514_string()}; "
            "configure the right chain"
        )
    return tuple(chain)


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else None
    return value if isinstance(value, str) else cert.subject.rfc4514_string()
