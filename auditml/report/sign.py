"""Sign a rendered report with pyHanko: PAdES B-B, or B-T with a timestamp authority.

The signature is an incremental update (the PDF/A-3b revision the renderer wrote stays
byte for byte in front of it), in an invisible field, with subfilter
ETSI.CAdES.detached, SHA-256 and an RSA key (PKCS#1 v1.5), so the signed file stays
PDF 1.7 as PDF/A-3b requires: pyHanko declares PDF 2.0 and ISO/TS 32002 for any ECDSA
or EdDSA signature (docs/adr/0006-rsa-report-signatures.md). The CMS carries the
signing certificate and its chain up to the organisation CA. The signer's name goes in
the signature dictionary's /Name, the meaning of the signature in /Reason, and the
signer's role in the CAdES `signer-attributes-v2` signed attribute (a claimed `role`),
which is where PAdES puts it.
"""

from __future__ import annotations

import asyncio
import io
import os
import stat
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from asn1crypto import cms, tsp  # type: ignore[import-untyped]
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata.model import VENDOR
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import fields, signers
from pyhanko.sign.ades.api import CAdESSignedAttrSpec, SignerAttrSpec
from pyhanko.sign.general import SigningError
from pyhanko.sign.timestamps import TimeStamper, TimestampRequestError
from pyhanko_certvalidator.registry import SimpleCertificateStore

from auditml.errors import AuditmlError, ConfigError, ValidationError
from auditml.report.identity import SigningIdentity

#: The name of the signature field every auditml report carries.
SIGNATURE_FIELD = "auditml-signature"
TSA_TIMEOUT_SECONDS = 15.0


class TimestampError(AuditmlError):
    """The timestamp authority could not be reached or gave no usable timestamp."""


def check_tsa_url(url: str) -> str:
    """Return `url` if it can name an RFC 3161 timestamp authority: http(s), with a host.

    Pure: nothing is contacted. Raises ValidationError saying what is wrong otherwise.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError as exc:
        raise ValidationError(f"--tsa-url {url!r} is not a URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise ValidationError(
            f"--tsa-url {url!r}: a timestamp authority is reached over http or https, not "
            f"{parts.scheme or 'a URL without a scheme'}; write e.g. https://tsa.example.com/tsr"
        )
    if not parts.hostname or any(c.isspace() or not c.isprintable() for c in url):
        raise ValidationError(
            f"--tsa-url {url!r} has no host name, or spaces or control characters in it; "
            "write e.g. https://tsa.example.com/tsr"
        )
    return url


class _UrllibTimeStamper(TimeStamper):
    """An RFC 3161 client over HTTP(S) using only the standard library.

    pyHanko's own HTTP clients need `requests` or `aiohttp`, which auditml does not
    depend on; the protocol is one POST of the DER request.
    """

    def __init__(self, url: str, timeout: float = TSA_TIMEOUT_SECONDS) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.url = check_tsa_url(url)
        self.timeout = timeout

    def _post(self, body: bytes) -> tsp.TimeStampResp:
        request = urllib.request.Request(  # noqa: S310 (scheme checked in __init__)
            self.url,
            data=body,
            headers={"Content-Type": "application/timestamp-query"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                content_type = response.headers.get("Content-Type", "")
                data = response.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise TimestampRequestError(f"cannot reach the timestamp authority: {exc}") from exc
        if content_type.split(";")[0].strip() != "application/timestamp-reply":
            raise TimestampRequestError(
                f"the timestamp authority answered {content_type or 'no content type'!r}, "
                "not application/timestamp-reply"
            )
        try:
            return tsp.TimeStampResp.load(data)
        except ValueError as exc:
            raise TimestampRequestError("the timestamp authority's answer is not DER") from exc

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return await asyncio.to_thread(self._post, req.dump())


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _signer(identity: SigningIdentity) -> signers.SimpleSigner:
    try:
        der = identity.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"the report-signing key cannot be exported for pyHanko: {exc}") from exc
    chain = [_asn1_cert(c) for c in identity.chain]
    return signers.SimpleSigner(
        signing_cert=_asn1_cert(identity.certificate),
        signing_key=asn1_keys.PrivateKeyInfo.load(der),
        cert_registry=SimpleCertificateStore.from_certs(chain),  # type: ignore[no-untyped-call]
        embed_roots=True,
    )


def _role_attribute(role: str) -> cms.AttCertAttribute:
    """A claimed `role` (RFC 5755 RoleSyntax) naming the role as a directory title."""
    role_name = asn1_x509.GeneralName(
        name="directory_name", value=asn1_x509.Name.build({"title": role})
    )
    return cms.AttCertAttribute(
        {"type": "role", "values": [cms.RoleSyntax({"role_name": role_name})]}
    )


def _align_producer(writer: IncrementalPdfFileWriter) -> None:
    """Keep the Info dictionary's /Producer equal to the XMP pdf:Producer (PDF/A 6.6.2.3).

    pyHanko rewrites the XMP pdf:Producer to its own name but appends its name to the
    Info /Producer; PDF/A requires the two to be equivalent, so both say pyHanko's name.
    """
    info_ref = writer.trailer.raw_get("/Info") if "/Info" in writer.trailer else None
    if not isinstance(info_ref, generic.IndirectObject):
        return
    info = info_ref.get_object()  # type: ignore[no-untyped-call]
    if isinstance(info, generic.DictionaryObject) and "/Producer" in info:
        info["/Producer"] = generic.TextStringObject(VENDOR)
        writer.mark_update(info_ref)


def check_signing_key(identity: SigningIdentity) -> None:
    """Raise ConfigError unless the identity signs with RSA, the one algorithm that keeps
    the signed report the PDF 1.7 its PDF/A-3b metadata claims."""
    key = identity.key
    if isinstance(key, rsa.RSAPrivateKey):
        return
    if isinstance(key, ec.EllipticCurvePrivateKey):
        kind = f"ECDSA ({key.curve.name})"
    else:
        kind = type(key).__name__.removeprefix("_").removesuffix("PrivateKey")
    raise ConfigError(
        f"the report-signing key for {identity.certificate.subject.rfc4514_string()} is "
        f"{kind}; reports are signed only with RSA, which keeps them the PDF 1.7 that "
        "PDF/A-3b is based on (with ECDSA or EdDSA a report would declare PDF 2.0, "
        "ISO/TS 32002). Run `auditml keys rotate "
        "--report-signing` for an RSA certificate from the same CA (reports signed before "
        "still verify), or configure an RSA certificate of your own (signer_pkcs12 or "
        "signer_key + signer_cert in auditml.toml)"
    )


def signature_metadata(identity: SigningIdentity) -> signers.PdfSignatureMetadata:
    """The PAdES signature settings auditml uses (exposed for tests and tooling)."""
    return signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        name=identity.name,
        reason=identity.meaning,
        cades_signed_attr_spec=CAdESSignedAttrSpec(
            signer_attributes=SignerAttrSpec(
                claimed_attrs=[_role_attribute(identity.role)], certified_attrs=[]
            )
        ),
        signer_key_usage={"digital_signature"},
    )


def sign_report(
    unsigned: Path, signed: Path, identity: SigningIdentity, *, tsa_url: str | None = None
) -> None:
    """Sign the report `unsigned` into `signed` (PAdES B-B; B-T when `tsa_url` is given).

    `signed` appears complete or not at all: the report is signed in memory, then
    written to a hidden temporary file next to it and renamed into place. `signed` may
    be the same path as `unsigned`.
    Raises ValidationError if `unsigned` is missing or not a PDF pyHanko can update, or
    `tsa_url` is not an http(s) URL (see `check_tsa_url`), TimestampError if the timestamp
    authority fails, ConfigError for an unusable or non-RSA key (see `check_signing_key`)
    or when `signed` cannot be written.
    """
    check_signing_key(identity)
    unsigned = Path(unsigned)
    signed = Path(signed)
    try:
        data = unsigned.read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read the report {unsigned}: {exc.strerror}") from exc
    if not data.startswith(b"%PDF-"):
        raise ValidationError(f"{unsigned} is not a PDF (it does not start with %PDF-)")
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if identity.certificate.public_key().public_bytes(der, spki) != (
        identity.key.public_key().public_bytes(der, spki)
    ):
        raise ConfigError("the report-signing key does not match the signing certificate")

    timestamper = _UrllibTimeStamper(tsa_url) if tsa_url else None
    pdf_signer = signers.PdfSigner(
        signature_metadata(identity), signer=_signer(identity), timestamper=timestamper
    )
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    except (PdfError, ValueError, KeyError, IndexError) as exc:
        raise ValidationError(f"{unsigned} is not a readable PDF: {exc}") from exc
    _align_producer(writer)
    # Signed in memory: a file appears beside `signed` only while the result is written,
    # not while a timestamp authority takes its time, so a kill rarely finds one to leave.
    output = io.BytesIO()
    try:
        pdf_signer.sign_pdf(writer, output=output)
    except TimestampRequestError as exc:
        raise TimestampError(
            f"timestamping with {tsa_url} failed: {exc}; check the TSA URL "
            "or sign without one (PAdES B-B)"
        ) from exc
    except SigningError as exc:
        raise ConfigError(f"pyHanko refused to sign {unsigned}: {exc}") from exc
    except PdfError as exc:
        raise ValidationError(f"{unsigned} could not be signed: {exc}") from exc
    try:
        _replace(signed, output.getvalue(), stat.S_IMODE(unsigned.stat().st_mode))
    except OSError as exc:
        raise ConfigError(f"cannot write the report {signed}: {exc.strerror}") from exc


def _replace(path: Path, data: bytes, mode: int) -> None:
    """Write `path` whole or not at all: a hidden temporary file beside it, renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
