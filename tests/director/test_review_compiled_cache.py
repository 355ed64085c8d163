"""Review fix: the compiled-package cache upserts. A cache row whose blob went missing (a
blobstore restored from an older backup, a blob removed by hand) is a miss, so the package
is compiled again; recording that result must replace the row, not fail every later deploy
on the cache's unique key, and the replaced blob must not stay behind."""

from __future__ import annotations

from sqlalchemy import select

from bosh_py.director.compiler import CompiledRef, SourcePackage, StemcellRef, cached, record
from bosh_py.director.config import bundled_cpi
from bosh_py.director.models import CompiledPackage

PACKAGE = SourcePackage("testrel", "libfoo", "f" * 40, (), "0" * 32, "sha256:" + "0" * 64)
STEMCELL = StemcellRef("bosh-py-local", "debian-bookworm", "1.0", "stemcell-cid")
DEP_KEY = "no-dependencies"


def compiled(director, content: bytes) -> CompiledRef:
    blob_id, digest = director.blobstore.put_bytes(content)
    return CompiledRef(PACKAGE.name, PACKAGE.fingerprint, blob_id, digest)


def cache_rows(director) -> list[tuple[str, str]]:
    with director.sessions() as session:
        return [(row.blobstore_id, row.sha1) for row in session.scalars(select(CompiledPackage))]


def test_a_recompiled_package_replaces_the_row_whose_blob_went_missing(make_director):
    director = make_director(bundled_cpi())
    first = compiled(director, b"compiled once")
    record(director, PACKAGE, STEMCELL, DEP_KEY, first)
    assert cached(director, PACKAGE, STEMCELL, DEP_KEY) == first

    director.blobstore.delete(first.blobstore_id)  # the blob is gone: the cache must miss
    assert cached(director, PACKAGE, STEMCELL, DEP_KEY) is None
    second = compiled(director, b"compiled again")
    record(director, PACKAGE, STEMCELL, DEP_KEY, second)

    assert cache_rows(director) == [(second.blobstore_id, second.sha1)]
    assert cached(director, PACKAGE, STEMCELL, DEP_KEY) == second


def test_recording_the_same_key_twice_keeps_one_row_and_drops_the_older_blob(make_director):
    """Two deploys (or two releases with an identical package) compiling the same key at once."""
    director = make_director(bundled_cpi())
    first, second = compiled(director, b"worker one"), compiled(director, b"worker two")
    record(director, PACKAGE, STEMCELL, DEP_KEY, first)
    record(director, PACKAGE, STEMCELL, DEP_KEY, second)

    assert cache_rows(director) == [(second.blobstore_id, second.sha1)]
    assert not director.blobstore.exists(first.blobstore_id)
    assert director.blobstore.exists(second.blobstore_id)
