"""The CPI protocol's envelope: errors come back as JSON with BOSH's error types."""

from __future__ import annotations

import json
import subprocess

from tests.cpi.support import CPI


def call_raw(text: str, tmp_path) -> dict:
    config = tmp_path / "cpi.json"
    config.write_text(json.dumps({"root": str(tmp_path / "root"), "bridge": "bpunused0", "prefix": "u"}))
    done = subprocess.run([str(CPI), str(config)], input=text, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0  # a CPI error is still a successful exchange
    response = json.loads(done.stdout)
    assert set(response) == {"result", "error", "log"}
    return response


def request(method: str, *arguments) -> str:
    return json.dumps({"method": method, "arguments": list(arguments), "context": {}, "api_version": 2})


def test_info(tmp_path):
    response = call_raw(request("info"), tmp_path)
    assert response["error"] is None
    assert response["result"]["stemcell_formats"] == ["local-rootfs"]


def test_malformed_json_is_an_error_response(tmp_path):
    response = call_raw("{not json", tmp_path)
    assert response["result"] is None
    assert response["error"]["type"] == "InvalidCall"
    assert response["error"]["ok_to_retry"] is False


def test_unknown_method_is_not_implemented(tmp_path):
    response = call_raw(request("frobnicate_vm", "x"), tmp_path)
    assert response["error"]["type"] == "NotImplemented"
    assert "frobnicate_vm" in response["error"]["message"]


def test_snapshots_are_not_implemented(tmp_path):
    assert call_raw(request("snapshot_disk", "disk-x", {}), tmp_path)["error"]["type"] == "NotImplemented"
    assert call_raw(request("delete_snapshot", "snap-x"), tmp_path)["error"]["type"] == "NotImplemented"


def test_wrong_argument_count(tmp_path):
    response = call_raw(request("create_vm", "agent"), tmp_path)
    assert response["error"]["type"] == "InvalidCall"


def test_unknown_stemcell_fails_vm_creation(tmp_path):
    networks = {"default": {"type": "manual", "ip": "10.254.250.2", "netmask": "255.255.255.0",
                            "gateway": "10.254.250.1", "cloud_properties": {}}}
    response = call_raw(request("create_vm", "agent", "sc-missing", {}, networks, [], {}), tmp_path)
    assert response["error"]["type"] == "VMCreationFailed"
    assert "sc-missing" in response["error"]["message"]
    assert not (tmp_path / "root" / "vms").exists() or not any((tmp_path / "root" / "vms").iterdir())


def test_missing_things_have_their_error_types(tmp_path):
    assert call_raw(request("delete_vm", "vm-none"), tmp_path)["error"]["type"] == "VMNotFound"
    assert call_raw(request("reboot_vm", "vm-none"), tmp_path)["error"]["type"] == "VMNotFound"
    assert call_raw(request("has_vm", "vm-none"), tmp_path)["result"] is False
    assert call_raw(request("has_disk", "disk-none"), tmp_path)["result"] is False
    assert call_raw(request("delete_disk", "disk-none"), tmp_path)["error"]["type"] == "DiskNotFound"
    assert call_raw(request("has_vm", "../../etc"), tmp_path)["result"] is False


def test_disk_bookkeeping_without_vms(tmp_path):
    cid = call_raw(request("create_disk", 512, {}, None), tmp_path)["result"]
    assert call_raw(request("has_disk", cid), tmp_path)["result"] is True
    assert call_raw(request("resize_disk", cid, 1024), tmp_path)["error"] is None
    assert json.loads((tmp_path / "root/disks" / cid / "state.json").read_text())["size_mb"] == 1024
    assert call_raw(request("delete_disk", cid), tmp_path)["error"] is None
    assert call_raw(request("has_disk", cid), tmp_path)["result"] is False
