import base64
import datetime as dt
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509.oid import ExtendedKeyUsageOID

from bosh_py.manifest import ManifestError, generate_variables

DEFS = [
    {"name": "leaf", "type": "certificate",
     "options": {"ca": "ca", "common_name": "router.internal", "alternative_names": ["router.internal", "10.244.0.5"],
                 "extended_key_usage": ["server_auth"], "duration": 30}},
    {"name": "ca", "type": "certificate", "options": {"is_ca": True, "common_name": "test CA"}},
    {"name": "pw", "type": "password"},
    {"name": "key", "type": "rsa"},
    {"name": "ssh", "type": "ssh"},
]


@pytest.fixture(scope="module")
def generated():
    return generate_variables(DEFS, {})


def test_password(generated) -> None:
    assert len(generated["pw"]) == 20
    assert set(generated["pw"]) <= set("abcdefghijklmnopqrstuvwxyz0123456789")


def test_leaf_is_signed_by_generated_ca(generated) -> None:
    ca = x509.load_pem_x509_certificate(generated["ca"]["certificate"].encode())
    leaf = x509.load_pem_x509_certificate(generated["leaf"]["certificate"].encode())
    assert generated["leaf"]["ca"] == generated["ca"]["certificate"]
    leaf.verify_directly_issued_by(ca)
    ca.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["router.internal"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["10.244.0.5"]
    assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert dt.timedelta(days=30) <= lifetime <= dt.timedelta(days=30, minutes=10)
    key = serialization.load_pem_private_key(generated["leaf"]["private_key"].encode(), None)
    assert key.public_key().public_numbers() == leaf.public_key().public_numbers()


def test_rsa_and_ssh(generated) -> None:
    private = serialization.load_pem_private_key(generated["key"]["private_key"].encode(), None)
    public = serialization.load_pem_public_key(generated["key"]["public_key"].encode())
    signature = private.sign(b"x", padding.PKCS1v15(), hashes.SHA256())
    public.verify(signature, b"x", padding.PKCS1v15(), hashes.SHA256())
    ssh = generated["ssh"]
    assert ssh["public_key"].startswith("ssh-rsa ")
    digest = hashlib.md5(base64.b64decode(ssh["public_key"].split()[1])).hexdigest()
    assert ssh["public_key_fingerprint"] == ":".join(digest[i:i + 2] for i in range(0, 32, 2))
    private_ssh = serialization.load_pem_private_key(ssh["private_key"].encode(), None)
    assert private_ssh.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode() == ssh["public_key"]


def test_only_missing_values_generated_and_existing_ca_used(generated) -> None:
    existing = {"ca": generated["ca"], "pw": "keep"}
    more = generate_variables(DEFS[:3], existing)
    assert set(more) == {"leaf"}
    ca = x509.load_pem_x509_certificate(generated["ca"]["certificate"].encode())
    x509.load_pem_x509_certificate(more["leaf"]["certificate"].encode()).verify_directly_issued_by(ca)


@pytest.mark.parametrize(
    ("definitions", "errors"),
    [
        ([{"name": "x", "type": "gpg"}],
         [("variables/x/type", "unknown variable type 'gpg' (expected one of: certificate, password, rsa, ssh)")]),
        ([{"name": "x", "type": "certificate", "options": {"ca": "nope"}}],
         [("variables/x/options/ca", "CA 'nope' is not defined in variables")]),
        ([{"name": "x", "type": "certificate", "options": {"is_ca": "yes", "colour": 1}}],
         [("variables/x/options/is_ca", "expected boolean"), ("variables/x/options", "unknown key 'colour'")]),
        ([{"name": "x", "type": "certificate", "options": {"ca": "p"}}, {"name": "p", "type": "password"}],
         [("variables/x/options/ca", "CA 'p' is a password, not a certificate")]),
        ([{"name": "a", "type": "certificate", "options": {"ca": "b"}}, {"name": "b", "type": "certificate", "options": {"ca": "a"}}],
         [("variables/a/options/ca", "certificate authority cycle: a -> b -> a")]),
        ([{"type": "password"}], [("variables/0", "missing required key 'name'")]),
        # once an uncaught OverflowError (a bare HTTP 500 from the director)
        ([{"name": "c", "type": "certificate", "options": {"duration": 10 ** 12}}],
         [("variables/c/options/duration", "must be at most 36500")]),
        ([{"name": "c", "type": "certificate", "options": {"duration": 36501}}],
         [("variables/c/options/duration", "must be at most 36500")]),
    ],
)
def test_definition_errors(definitions, errors) -> None:
    with pytest.raises(ManifestError) as caught:
        generate_variables(definitions, {})
    assert [(e.path, e.message) for e in caught.value.details] == errors
