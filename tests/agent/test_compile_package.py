"""compile_package on a real agent: dependencies installed, packaging run with the BOSH
variables, result uploaded; a failing script's error carries the output tail."""

from __future__ import annotations

import time

import pytest

from bosh_py.mbus.errors import AgentError
from tests.agent.helpers import make_tgz, read_tgz, with_client

PACKAGING = """set -e
echo "compiling $BOSH_PACKAGE_NAME $BOSH_PACKAGE_VERSION"
mkdir -p "$BOSH_INSTALL_TARGET/bin" "$BOSH_INSTALL_TARGET/share"
cp "$BOSH_PACKAGES_DIR/libgreet/lib/greeting.txt" "$BOSH_INSTALL_TARGET/share/"
cp src/hello.sh "$BOSH_INSTALL_TARGET/bin/hello"
chmod +x "$BOSH_INSTALL_TARGET/bin/hello"
env | grep ^BOSH_ | sort > "$BOSH_INSTALL_TARGET/share/env.txt"
pwd > "$BOSH_INSTALL_TARGET/share/pwd.txt"
"""

FAILING = """for i in $(seq 1 40); do echo "build step $i"; done
echo "error: compiler exploded" >&2
exit 3
"""


def test_compile_package_with_a_dependency(agent, blobstore):
    dep_id, dep_sha = blobstore.put_bytes(make_tgz({"lib/greeting.txt": "hello\n"}))
    src_id, src_sha = blobstore.put_bytes(make_tgz({"packaging": PACKAGING,
                                                    "src/hello.sh": "#!/bin/sh\necho hi\n"}))

    async def go(client, nc):
        t = time.monotonic()
        result = await client.compile_package(
            src_id, src_sha, "hello", "1.0",
            {"libgreet": {"blobstore_id": dep_id, "sha1": dep_sha, "version": "0.1"}})
        return result, time.monotonic() - t
    result, took = with_client(agent.nats, agent.agent_id, go)
    print(f"compile_package took {took:.2f}s")
    out = result["result"]
    assert out["sha1"].startswith("sha256:")
    files = read_tgz(blobstore.read(out["blobstore_id"]))
    assert files["share/greeting.txt"] == b"hello\n"
    assert files["bin/hello"].startswith(b"#!/bin/sh")
    env = dict(line.split("=", 1) for line in files["share/env.txt"].decode().splitlines())
    packages = agent.root / "var/vcap/packages"
    assert env["BOSH_INSTALL_TARGET"] == str(packages / "hello")
    assert env["BOSH_PACKAGES_DIR"] == str(packages)
    assert env["BOSH_PACKAGE_NAME"] == "hello" and env["BOSH_PACKAGE_VERSION"] == "1.0"
    assert env["BOSH_COMPILE_TARGET"] == files["share/pwd.txt"].decode().strip()
    assert (packages / "libgreet/lib/greeting.txt").exists()
    assert not (agent.root / "var/vcap/data/compile/hello").exists()  # cleaned up


def test_compile_package_failure_shows_the_output_tail(agent, blobstore):
    src_id, src_sha = blobstore.put_bytes(make_tgz({"packaging": FAILING}))

    async def go(client, nc):
        with pytest.raises(AgentError) as e:
            await client.compile_package(src_id, src_sha, "broken", "2.0", {})
        return str(e.value)
    message = with_client(agent.nats, agent.agent_id, go)
    assert message.startswith("Compiling package broken/2.0 failed: packaging exited with code 3")
    assert "error: compiler exploded" in message and "build step 40" in message
    assert "build step 1\n" not in message  # only the tail
    assert len(message.splitlines()) <= 22
    log = (agent.root / "var/vcap/data/compile/broken.log").read_text()
    assert "build step 1\n" in log  # the whole output stays on the VM


def test_compile_package_rejects_a_source_with_the_wrong_digest(agent, blobstore):
    src_id, _ = blobstore.put_bytes(make_tgz({"packaging": "true\n"}))

    async def go(client, nc):
        with pytest.raises(AgentError, match="digest mismatch"):
            await client.compile_package(src_id, "sha256:" + "1" * 64, "x", "1", {})
    with_client(agent.nats, agent.agent_id, go)
