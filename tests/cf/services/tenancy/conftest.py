"""The service tests that need users, orgs and spaces: tests/cf/tenancy's real UAA and the CC
that trusts it (its fixtures, imported rather than copied), in place of the built-in
issuer's CC the other service tests use."""

from tests.cf.tenancy.conftest import cc, cf_for, crypto_package, signing_key, uaa  # noqa: F401  (fixtures)
