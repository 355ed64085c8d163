"""Generate the values of a manifest's ``variables:`` that the store does not hold yet.

Types as in BOSH: ``password`` (20 characters of [a-z0-9]), ``certificate``
(``{ca, certificate, private_key}``, PEM), ``rsa`` (``{private_key, public_key}``, PEM) and
``ssh`` (``{private_key, public_key, public_key_fingerprint}``, OpenSSH public key and
MD5 fingerprint as ``bosh`` prints it). Keys are RSA 2048. A certificate whose ``ca``
names another variable is signed by it, and the CA is generated first whatever the order
in the manifest. A certificate without ``ca`` is self-signed and its ``ca`` field is its
own certificate.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import secrets
import string
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import Field

from bosh_py.manifest.errors import ManifestError, join_path
from bosh_py.manifest.models import VARIABLE_TYPES, Model, Name, VariableDefinition
from bosh_py.manifest.validate import labels, model_from

PASSWORD_ALPHABET = string.ascii_lowercase + string.digits
PASSWORD_LENGTH = 20
KEY_SIZE = 2048
# 100 years: longer is never meant, and an unbounded number overflows the date arithmetic
MAX_CERTIFICATE_DAYS = 36500

_EXTENDED_KEY_USAGES = {
    "server_auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code_signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email_protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
}


class PasswordOptions(Model):
    length: Annotated[int, Field(strict=True, ge=1, le=1024)] = PASSWORD_LENGTH


class CertificateOptions(Model):
    common_name: Name | None = None
    alternative_names: list[Name] = []
    is_ca: Annotated[bool, Field(strict=True)] = False
    ca: Name | None = None
    extended_key_usage: list[Literal["server_auth", "client_auth", "code_signing",
                                     "email_protection", "timestamping"]] = []
    duration: Annotated[int, Field(strict=True, ge=1, le=MAX_CERTIFICATE_DAYS)] = 365  # days


class NoOptions(Model):
    pass


_OPTIONS: dict[str, type[Model]] = {
    "password": PasswordOptions, "certificate": CertificateOptions, "rsa": NoOptions, "ssh": NoOptions,
}


class _Variables(Model):
    variables: list[VariableDefinition]


def _pem_private(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)


def generate_password(options: PasswordOptions) -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(options.length))


def generate_rsa() -> dict[str, str]:
    key = _new_key()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return {"private_key": _pem_private(key), "public_key": public.decode()}


def generate_ssh() -> dict[str, str]:
    key = _new_key()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    blob = base64.b64decode(public.split()[1])
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    fingerprint = ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))
    return {"private_key": _pem_private(key), "public_key": public, "public_key_fingerprint": fingerprint}


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def generate_certificate(name: str, options: CertificateOptions, ca: Mapping[str, Any] | None,
                         now: dt.datetime | None = None) -> dict[str, str]:
    """``ca`` is the signing CA's value (``certificate``, ``private_key``) or None."""
    now = now or dt.datetime.now(dt.timezone.utc)
    key = _new_key()
    common_name = options.common_name or (options.alternative_names[:1] or [name])[0]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    if ca is not None:
        issuer_cert = x509.load_pem_x509_certificate(str(ca["certificate"]).encode())
        issuer_key = serialization.load_pem_private_key(str(ca["private_key"]).encode(), password=None)
        issuer_name, issuer_public = issuer_cert.subject, issuer_cert.public_key()
    else:
        issuer_cert, issuer_key, issuer_name, issuer_public = None, key, subject, key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=options.duration))
        .add_extension(x509.BasicConstraints(ca=options.is_ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=not options.is_ca,
            data_encipherment=False, key_agreement=False, key_cert_sign=options.is_ca,
            crl_sign=options.is_ca, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False)  # type: ignore[arg-type]
    )
    if options.alternative_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in options.alternative_names]), critical=False)
    if options.extended_key_usage:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([_EXTENDED_KEY_USAGES[u] for u in options.extended_key_usage]), critical=False)
    certificate = builder.sign(issuer_key, hashes.SHA256())  # type: ignore[arg-type]
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    ca_pem = issuer_cert.public_bytes(serialization.Encoding.PEM).decode() if issuer_cert else pem
    return {"ca": ca_pem, "certificate": pem, "private_key": _pem_private(key)}


def _generation_order(defs: Sequence[VariableDefinition], steps: Sequence[str],
                      options: Mapping[str, Model], existing: Mapping[str, Any]) -> list[int]:
    """Indices of definitions to generate, each CA before the certificates it signs."""
    by_name = {d.name: i for i, d in enumerate(defs)}
    order: list[int] = []
    state: dict[int, str] = {}

    def visit(index: int, chain: tuple[str, ...]) -> None:
        if state.get(index) == "done":
            return
        definition = defs[index]
        if state.get(index) == "visiting":
            raise ManifestError(f"certificate authority cycle: {' -> '.join(chain + (definition.name,))}",
                                path=join_path("variables", steps[index], "options", "ca"))
        state[index] = "visiting"
        opts = options[definition.name]
        if isinstance(opts, CertificateOptions) and opts.ca is not None and opts.ca not in existing:
            ca_index = by_name.get(opts.ca)
            path = join_path("variables", steps[index], "options", "ca")
            if ca_index is None:
                raise ManifestError(f"CA '{opts.ca}' is not defined in variables", path=path)
            if defs[ca_index].type != "certificate":
                raise ManifestError(f"CA '{opts.ca}' is a {defs[ca_index].type}, not a certificate", path=path)
            visit(ca_index, chain + (definition.name,))
        state[index] = "done"
        if definition.name not in existing:
            order.append(index)

    for index in range(len(defs)):
        visit(index, ())
    return order


def generate_variables(
    definitions: Sequence[Mapping[str, Any] | VariableDefinition],
    existing: Mapping[str, Any],
    *,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Values for the definitions not in ``existing``; the result holds only new values.

    Errors use the manifest's paths (``variables/<name>/type``) and are raised before
    anything is generated.
    """
    raw = [d.model_dump(exclude_none=True) if isinstance(d, VariableDefinition) else d for d in definitions]
    defs = model_from(_Variables, {"variables": raw}).variables
    steps = labels([d.name for d in defs])
    problems: list[ManifestError] = []
    options: dict[str, Model] = {}
    seen: set[str] = set()
    for step, definition in zip(steps, defs):
        if definition.name in seen:
            problems.append(ManifestError(f"duplicate variable '{definition.name}'",
                                          path=join_path("variables", step, "name")))
        seen.add(definition.name)
        model = _OPTIONS.get(definition.type)
        if model is None:
            problems.append(ManifestError(
                f"unknown variable type '{definition.type}' (expected one of: {', '.join(VARIABLE_TYPES)})",
                path=join_path("variables", step, "type")))
            continue
        try:
            options[definition.name] = model_from(model, definition.options or {})
        except ManifestError as failure:
            problems.extend(ManifestError(e.message, path=join_path("variables", step, "options", e.path))
                            for e in failure.details)
    if problems:
        raise ManifestError.collect(problems)

    generated: dict[str, Any] = {}
    for index in _generation_order(defs, steps, options, existing):
        definition = defs[index]
        opts = options[definition.name]
        if isinstance(opts, PasswordOptions):
            generated[definition.name] = generate_password(opts)
        elif isinstance(opts, CertificateOptions):
            ca = None
            if opts.ca is not None:
                ca = generated.get(opts.ca, existing.get(opts.ca))
                if not isinstance(ca, Mapping) or "certificate" not in ca or "private_key" not in ca:
                    raise ManifestError(f"CA '{opts.ca}' has no certificate and private_key",
                                        path=join_path("variables", steps[index], "options", "ca"))
            generated[definition.name] = generate_certificate(definition.name, opts, ca, now)
        elif definition.type == "rsa":
            generated[definition.name] = generate_rsa()
        else:
            generated[definition.name] = generate_ssh()
    return generated
