"""The S3 blobstore against a real S3 server (moto's, on 127.0.0.1): round trips, multipart,
missing blobs, the read cache, config errors; and a director on namespace VMs whose blobs
all land in the bucket, none in its data directory."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from aiohttp import ClientSession, encode_basic_auth
from aiohttp.test_utils import TestServer
from moto.server import ThreadedMotoServer

from bosh_py.director import blobstore_s3
from bosh_py.director.agent_credentials import AgentCredentials
from bosh_py.director.blob_grants import BlobGrants
from bosh_py.director.blobstore import (BlobNotFound, BlobstoreError, BlobTooLarge, LocalBlobstore, new_blob_id)
from bosh_py.director.blobstore_http import blobstore_app
from bosh_py.director.blobstore_s3 import S3Blobstore
from bosh_py.director.config import DirectorConfig, S3BlobstoreConfig
from bosh_py.director.jobs import clean_up
from bosh_py.director.models import Package
from bosh_py.director.services import open_blobstore
from bosh_py.errors import BoshPyError
from tests.harness import BIN, REPO, WORKER_NET, LocalDirector, ensure_stemcell, free_port

SECRET = "s3-secret-" + os.urandom(8).hex()
KEYS = {"access_key_id": "bosh-py-test", "secret_access_key": SECRET}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A real S3 API (moto's server) on loopback, for this module."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, request: pytest.FixtureRequest) -> str:
    name = f"bosh-py-{request.node.name.replace('_', '-')[:40].lower().strip('-')}"
    client(s3_endpoint).create_bucket(Bucket=name)
    return name


def client(endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=KEYS["access_key_id"], aws_secret_access_key=SECRET)


def bucket_keys(endpoint: str, bucket: str) -> list[str]:
    return [o["Key"] for o in client(endpoint).list_objects_v2(Bucket=bucket).get("Contents", [])]


def s3_config(endpoint: str, bucket: str, **extra: object) -> S3BlobstoreConfig:
    return S3BlobstoreConfig.model_validate({"provider": "s3", "bucket": bucket, "endpoint": endpoint, **KEYS, **extra})


def make_store(endpoint: str, bucket: str, cache: Path, **extra: object) -> S3Blobstore:
    return S3Blobstore(s3_config(endpoint, bucket, **extra), cache)


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def test_put_get_exists_copy_delete_round_trip(s3_endpoint, bucket, tmp_path):
    store = make_store(s3_endpoint, bucket, tmp_path / "cache", prefix="director/")
    data = b"rendered templates\n" * 100
    blob_id, digest = store.put_bytes(data)
    assert digest == digest_of(data)
    assert store.exists(blob_id)
    head = client(s3_endpoint).head_object(Bucket=bucket, Key=f"director/{blob_id}")
    assert head["ContentLength"] == len(data) and head["Metadata"] == {"sha256": digest}

    other = make_store(s3_endpoint, bucket, tmp_path / "other-cache", prefix="director/")  # another worker
    assert other.get_path(blob_id).read_bytes() == data
    other.copy_to(blob_id, tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == data

    source = tmp_path / "package.tgz"
    source.write_bytes(os.urandom(3000))
    file_id, file_digest = other.put_file(source)
    stream_id, stream_digest = other.put_stream(io.BytesIO(source.read_bytes()))
    local = LocalBlobstore(tmp_path / "local")
    assert file_digest == stream_digest == local.put_file(source)[1]  # the same digests as the local store
    assert sorted(i for i, _ in store.list_blobs()) == sorted([blob_id, file_id, stream_id])

    other.delete(blob_id)
    assert not store.exists(blob_id) and not other.exists(blob_id)
    assert not other.cache.exists(blob_id), "a delete drops the local copy too"
    with pytest.raises(BlobNotFound, match=blob_id):
        other.get_path(blob_id)
    other.delete(blob_id)  # deleting twice is harmless, as in the local store


def test_writer_streams_chunks_and_refuses_past_the_limit(s3_endpoint, bucket, tmp_path):
    store = make_store(s3_endpoint, bucket, tmp_path / "cache")
    writer = store.writer(max_bytes=10)
    writer.write(b"12345")
    with pytest.raises(BlobTooLarge):
        writer.write(b"678901")
    writer.abort()
    assert list(store.list_blobs()) == [] and list(store.cache.list_blobs()) == []

    blob_id = new_blob_id()
    writer = store.writer(blob_id)
    for chunk in (b"a" * 1000, b"b" * 1000):
        writer.write(chunk)
    assert not store.exists(blob_id), "nothing is in the bucket before commit"
    assert writer.commit() == digest_of(b"a" * 1000 + b"b" * 1000)
    assert store.exists(blob_id)
    mode = stat.S_IMODE(store.get_path(blob_id).stat().st_mode)
    assert mode == 0o600, "cached copies hold secrets: owner-only"


def test_a_large_blob_goes_up_in_parts_and_comes_back_whole(s3_endpoint, bucket, tmp_path):
    part = 5 << 20
    store = make_store(s3_endpoint, bucket, tmp_path / "cache", multipart_threshold=part, multipart_chunksize=part)
    source = tmp_path / "big.tgz"
    data = os.urandom(part * 2 + 12345)
    source.write_bytes(data)
    blob_id, digest = store.put_file(source)
    assert digest == digest_of(data)
    etag = client(s3_endpoint).head_object(Bucket=bucket, Key=blob_id)["ETag"]
    assert etag.strip('"').endswith("-3"), f"a multipart upload's ETag counts its parts: {etag}"
    fresh = make_store(s3_endpoint, bucket, tmp_path / "fresh-cache", multipart_threshold=part,
                       multipart_chunksize=part)
    assert hashlib.sha256(fresh.get_path(blob_id).read_bytes()).hexdigest() == digest.removeprefix("sha256:")


def test_missing_and_invalid_blobs(s3_endpoint, bucket, tmp_path):
    store = make_store(s3_endpoint, bucket, tmp_path / "cache")
    missing = new_blob_id()
    assert not store.exists(missing)
    with pytest.raises(BlobNotFound, match=f"Blob '{missing}' not found in S3 bucket '{bucket}'"):
        store.get_path(missing)
    with pytest.raises(BlobNotFound, match="Invalid blob id"):
        store.get_path("../../etc/passwd")
    assert not store.exists("../../etc/passwd")
    assert list(store.cache.root.glob("??/.*.tmp")) == [], "a failed download leaves no partial file"


def test_the_cache_evicts_least_recently_used_copies(s3_endpoint, bucket, tmp_path, monkeypatch):
    monkeypatch.setattr(blobstore_s3, "CACHE_GRACE", 0.0)
    store = make_store(s3_endpoint, bucket, tmp_path / "cache", cache_max_bytes=2500)
    first, _ = store.put_bytes(b"1" * 1000)
    second, _ = store.put_bytes(b"2" * 1000)
    os.utime(store.cache.path(first), (1, 1))  # long unused
    third, _ = store.put_bytes(b"3" * 1000)
    assert not store.cache.exists(first) and store.cache.exists(second) and store.cache.exists(third)
    assert store.exists(first), "eviction drops the local copy, never the blob"
    assert store.get_path(first).read_bytes() == b"1" * 1000


def test_the_cache_keeps_recently_used_copies_past_the_limit(s3_endpoint, bucket, tmp_path):
    store = make_store(s3_endpoint, bucket, tmp_path / "cache", cache_max_bytes=1500)
    ids = [store.put_bytes(bytes([65 + n]) * 1000)[0] for n in range(3)]
    assert all(store.cache.exists(i) for i in ids), "a caller may be about to open a copy just made"


def test_clean_up_finds_dangling_blobs_in_the_bucket(s3_endpoint, bucket, tmp_path, make_director):
    """``clean-up`` lists the bucket: an unreferenced blob past the grace period is dangling,
    a referenced one never is, and a blob outside the prefix is not the director's."""
    director = make_director(str(tmp_path / "no-cpi"))
    director.blobstore = store = make_store(s3_endpoint, bucket, tmp_path / "cache", prefix="d1/")
    kept, digest = store.put_bytes(b"a package")
    dangling, _ = store.put_bytes(b"left by a crash")
    client(s3_endpoint).put_object(Bucket=bucket, Key=new_blob_id(), Body=b"another director's")
    with director.sessions.begin() as session:
        session.add(Package(release_name="r", name="p", fingerprint="f", blobstore_id=kept, sha1=digest))
    assert clean_up.dangling_blobs(director) == [], "within the grace period: maybe an upload in flight"
    assert clean_up.dangling_blobs(director, now=time.time() + 2 * clean_up.DANGLING_GRACE) == [dangling]


def test_agents_read_and_write_the_bucket_through_the_front_door(s3_endpoint, bucket, tmp_path):
    """The agents' HTTP blobstore (main.py serves it) on an S3 store: a granted read is
    fetched from the bucket, the one granted upload lands in it with the digest computed
    here, and nothing else is allowed; agents hold only their own login."""
    store = make_store(s3_endpoint, bucket, tmp_path / "cache")
    writer_side = make_store(s3_endpoint, bucket, tmp_path / "other-cache")  # another worker wrote it
    source_id, source_digest = writer_side.put_bytes(b"package source")
    result_id, gone_id = new_blob_id(), writer_side.put_bytes(b"deleted later")[0]
    grants, credentials = BlobGrants(max_upload_bytes=1 << 20), AgentCredentials.load_or_create(tmp_path / "key")
    grants.authorize_message("agent-1", "compile_package", [source_id, source_digest, "p", "1", {
        "dep": {"blobstore_id": gone_id, "sha1": "x", "version": "1"}}, result_id])
    writer_side.delete(gone_id)
    login = {"Authorization": encode_basic_auth("agent-1", credentials.password("agent-1"))}

    async def exercise() -> dict[str, object]:
        server = TestServer(blobstore_app(store, grants, credentials), host="127.0.0.1", port=free_port())
        await server.start_server()
        try:
            async with ClientSession(headers=login) as http:
                async def call(method: str, blob_id: str, body: bytes | None = None) -> tuple[int, bytes]:
                    async with http.request(method, str(server.make_url(f"/blobs/{blob_id}")), data=body) as reply:
                        return reply.status, await reply.read()
                return {"read": await call("GET", source_id), "gone": (await call("GET", gone_id))[0],
                        "put": await call("PUT", result_id, b"compiled"),
                        "again": (await call("PUT", result_id, b"other"))[0],
                        "delete": (await call("DELETE", source_id))[0]}
        finally:
            await server.close()

    seen = asyncio.run(exercise())
    assert seen["read"] == (200, b"package source")
    assert seen["gone"] == 404 and seen["again"] == 403 and seen["delete"] == 403
    status, body = seen["put"]  # type: ignore[misc]
    assert status == 201 and json.loads(body)["sha1"] == digest_of(b"compiled")
    assert client(s3_endpoint).get_object(Bucket=bucket, Key=result_id)["Body"].read() == b"compiled"


def test_the_director_fails_at_start_on_a_missing_bucket_or_endpoint(s3_endpoint, tmp_path):
    config = DirectorConfig(data_dir=tmp_path, blobstore=s3_config(s3_endpoint, "no-such-bucket"))
    with pytest.raises(BlobstoreError, match="S3 bucket 'no-such-bucket' at http://127.0.0.1:[0-9]+ does not exist"):
        open_blobstore(config)
    nobody = f"http://127.0.0.1:{free_port()}"
    config = DirectorConfig(data_dir=tmp_path, blobstore=s3_config(nobody, "some-bucket"))
    with pytest.raises(BlobstoreError, match="Could not connect") as failure:
        open_blobstore(config)
    assert nobody in str(failure.value) and SECRET not in str(failure.value)


def test_director_start_refuses_a_bad_section_or_a_missing_bucket(s3_endpoint, tmp_path):
    """What an operator sees: the file and key, or the bucket and endpoint; never the secret."""
    data_dir = tmp_path / "director"
    data_dir.mkdir()
    env = {**os.environ, "BOSH_PY_CONFIG": str(tmp_path / "cli.json")}

    def start(blobstore: dict) -> subprocess.CompletedProcess:
        (data_dir / "director.json").write_text(json.dumps({"data_dir": str(data_dir), "blobstore": blobstore}))
        return subprocess.run([str(BIN / "bosh-py"), "director", "start", "--data-dir", str(data_dir),
                               "--api-port", str(free_port()), "--nats-port", str(free_port()),
                               "--blobstore-port", str(free_port()), "--agent-endpoint-host", "127.0.0.1"],
                              env=env, capture_output=True, text=True, timeout=120, check=False)

    try:
        bad = start({"provider": "s3", "endpoint": s3_endpoint, **KEYS})
        assert bad.returncode == 1 and "Traceback" not in bad.stderr
        assert f"{data_dir / 'director.json'}: blobstore/bucket: Field required" in " ".join(bad.stderr.split())
        missing = start({"provider": "s3", "bucket": "never-made", "endpoint": s3_endpoint, **KEYS})
        assert missing.returncode == 1
        assert f"S3 bucket 'never-made' at {s3_endpoint} does not exist" in missing.stderr
        for text in (bad.stdout + bad.stderr, missing.stdout + missing.stderr, (data_dir / "director.log").read_text()):
            assert SECRET not in text
    finally:  # a director that did start is stopped
        subprocess.run([str(BIN / "bosh-py"), "director", "stop", "--data-dir", str(data_dir)], env=env,
                       capture_output=True, timeout=60, check=False)


def test_a_local_config_keeps_the_local_store(tmp_path):
    store = open_blobstore(DirectorConfig(data_dir=tmp_path))
    assert isinstance(store, LocalBlobstore) and store.root == tmp_path / "blobstore"
    elsewhere = DirectorConfig.model_validate({"data_dir": str(tmp_path),
                                               "blobstore": {"provider": "local", "path": str(tmp_path / "b")}})
    assert open_blobstore(elsewhere).root == tmp_path / "b"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("blobstore", "message"), [
    ({"provider": "s3", **KEYS}, "blobstore/bucket: Field required"),
    ({"provider": "gcs", "bucket": "b"}, "blobstore: Input tag 'gcs' found using 'provider' does not match"),
    ({"provider": "s3", "bucket": "Not_A_Bucket", **KEYS}, "blobstore/bucket: an S3 bucket name is 3-63"),
    ({"provider": "s3", "bucket": "ok-bucket", "endpoint": "http://user:pw@host/path"},
     "blobstore/endpoint: expected http(s)://host[:port]"),
    ({"provider": "s3", "bucket": "ok-bucket", "secret_access_key": SECRET},
     "blobstore: secret_access_key needs access_key_id"),
    ({"provider": "s3", "bucket": "ok-bucket", **KEYS, "multipart_chunksize": 1024},
     "blobstore/multipart_chunksize: Input should be greater than or equal to 5242880"),
    ({"provider": "s3", "bucket": "ok-bucket", **KEYS, "secret": SECRET}, "blobstore/secret: Extra inputs"),
])
def test_bad_blobstore_config_names_the_key_and_never_the_secret(tmp_path, blobstore, message):
    path = tmp_path / "director.json"
    path.write_text(json.dumps({"data_dir": str(tmp_path), "blobstore": blobstore}))
    with pytest.raises(BoshPyError) as failure:
        DirectorConfig.load(path)
    assert str(failure.value).startswith(f"{path}: ")
    assert message in str(failure.value)
    assert SECRET not in str(failure.value)


def test_the_secret_stays_out_of_reprs_and_survives_save(tmp_path):
    config = DirectorConfig(data_dir=tmp_path, blobstore=s3_config("http://127.0.0.1:9", "ok-bucket"))
    assert SECRET not in repr(config) and SECRET not in str(config)
    path = tmp_path / "director.json"
    config.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = DirectorConfig.load(path).blobstore
    assert isinstance(loaded, S3BlobstoreConfig) and loaded.secret_access_key is not None
    assert loaded.secret_access_key.get_secret_value() == SECRET


@pytest.mark.slow
@pytest.mark.vm
def test_a_director_on_s3_deploys_with_every_blob_in_the_bucket(s3_endpoint, bucket, tmp_path):
    """Release upload, compilation (the agent's upload through the front door), rendered
    templates and the VMs' fetches all go through the bucket; the data dir holds no blob."""
    from tests.e2e.manifests import web_manifest, write

    if os.geteuid() != 0:
        pytest.skip("namespace VMs need root")
    stemcell = ensure_stemcell()
    local = LocalDirector(tmp_path / "director-root", net=WORKER_NET)
    local.data_dir.mkdir(parents=True)
    (local.data_dir / "director.json").write_text(json.dumps({  # `director start` keeps what this says
        "data_dir": str(local.data_dir),
        "blobstore": {"provider": "s3", "bucket": bucket, "endpoint": s3_endpoint, "prefix": "blobs/", **KEYS}}))
    try:
        local.start()
        local.cli("upload-stemcell", str(stemcell))
        local.update_cloud_config()
        release = tmp_path / "testrel"
        shutil.copytree(REPO / "tests/fixtures/releases/testrel", release)
        local.cli("upload-release", str(release))
        uploaded = bucket_keys(s3_endpoint, bucket)
        assert len(uploaded) == 3, f"jobs web and crasher, package greeting: {uploaded}"
        result = local.cli("deploy", "-n", write(tmp_path, web_manifest(instances=1, disk=False)))
        assert SECRET not in result.stdout + result.stderr
        rows = local.json("instances", "-d", "web", "--ps")
        assert [r["process_state"] for r in rows] == ["running"]

        keys = bucket_keys(s3_endpoint, bucket)
        assert all(k.startswith("blobs/") for k in keys)
        # + greeting compiled (the agent's upload through the front door) and web/0's templates
        assert set(uploaded) < set(keys) and len(keys) >= 5, keys
        local_blobs = [p for p in (local.data_dir / "blobstore").rglob("*") if p.is_file()]
        assert local_blobs == [], "no blob in the local directory"
        log = (local.data_dir / "director.log").read_text()
        assert SECRET not in log and SECRET not in local.cli("task", "--debug", check=False).stdout
        local.cli("delete-deployment", "-d", "web", "-n")
    finally:
        local.stop()
