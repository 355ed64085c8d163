"""What each director message lets an agent do in the blobstore (pure; no server needed)."""

from __future__ import annotations

import pytest

from bosh_py.director.blob_grants import BlobGrants, MessageGrant, grant_for_message

P, R, S, D, U = ("a" * 32, "b" * 32, "c" * 32, "d" * 32, "e" * 32)
SPEC = {"packages": {"p": {"blobstore_id": P}, "bad": {"blobstore_id": "../../etc"}, "odd": "x"},
        "rendered_templates_archive": {"blobstore_id": R}}


@pytest.mark.parametrize("method, args, expected", [
    ("apply", [SPEC], MessageGrant("apply", frozenset({P, R}))),
    ("prepare", [SPEC], MessageGrant("prepare", frozenset({P, R}))),
    ("apply", ["not a spec"], MessageGrant("apply", frozenset())),
    ("apply", [], MessageGrant("apply", frozenset())),
    ("compile_package", [S, "sha", "n", "1", {"dep": {"blobstore_id": D}}, U],
     MessageGrant("compile_package", frozenset({S, D}), U)),
    ("compile_package", [S, "sha", "n", "1", {}], MessageGrant("compile_package", frozenset({S}), None)),
    ("compile_package", [S, "sha", "n", "1", {}, "../x"], MessageGrant("compile_package", frozenset({S}), None)),
    ("fetch_logs", ["job", None, U], MessageGrant("fetch_logs", frozenset(), U)),
    ("fetch_logs", ["job", None], MessageGrant("fetch_logs", frozenset(), None)),
    ("start", [], None),
    ("drain", ["update", SPEC], None),
])
def test_grant_for_message(method, args, expected):
    assert grant_for_message(method, args) == expected


def test_grants_replace_per_purpose_uploads_are_used_once_and_revoked_with_the_vm():
    grants = BlobGrants(max_upload_bytes=10)
    grants.authorize_message("a1", "apply", [SPEC])
    grants.authorize_message("a1", "apply", [{"packages": {"p": {"blobstore_id": D}}}])
    assert not grants.may_read("a1", P) and grants.may_read("a1", D)
    assert not grants.may_read("a2", D)
    grants.authorize_message("a1", "fetch_logs", ["job", None, U])
    assert grants.claim_upload("a2", U) is None
    assert grants.claim_upload("a1", U) == 10
    assert grants.claim_upload("a1", U) is None
    grants.revoke("a1")
    assert not grants.may_read("a1", D)
