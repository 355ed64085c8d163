"""The README's main job on a test director: releases/nats deployed from
deployments/nats.yml as a 3-node cluster, proven by a message crossing nodes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.harness import REPO

pytestmark = pytest.mark.slow


def test_nats_cluster_deploys_and_carries_messages(director):
    subprocess.run([str(REPO / "scripts/prepare-release-blobs")], check=True, capture_output=True)
    director.cli("upload-release", str(REPO / "releases/nats"))
    result = director.cli("deploy", "-n", str(REPO / "deployments/nats.yml"))
    rows = director.json("instances", "-d", "nats", "--ps")
    assert len(rows) == 3 and {r["process_state"] for r in rows} == {"running"}
    assert {r["az"] for r in rows} == {"z1", "z2", "z3"}
    password = director.cli("get-variable", "-d", "nats", "nats_password").stdout.strip()
    assert len(password) >= 20
    assert password not in result.stdout + result.stderr, "generated secrets never reach deploy output"
    assert password not in director.cli("task", str(director.json("tasks", "-r", "1")[0]["id"]), "--debug").stdout
    check = subprocess.run([sys.executable, str(REPO / "scripts/check-nats-cluster"), "nats"], env=director.env,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "NATS cluster OK" in check.stdout
    director.cli("delete-deployment", "-d", "nats", "-n")
