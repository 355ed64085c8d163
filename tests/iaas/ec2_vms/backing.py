"""WSGI middleware in front of ``moto_adapter``: every EC2 call that succeeds in moto is
carried out on real namespace VMs through the local CPI (a TEST HARNESS, see README.md).

| EC2 call (succeeded in moto) | what the harness does |
|---|---|
| RunInstances | boots a namespace VM on the mapped stemcell with the instance's private IP; the SSH host key and root's authorized_keys come from the user data's ``#cloud-config`` (cloud-init's part, ``cloud_init_env``). A VM that fails to boot: the instance is terminated, as EC2 ends an instance that cannot start |
| TerminateInstances | deletes the VM (its disks are only detached, as EBS volumes are) |
| RebootInstances | reboots the VM, then re-plugs its volumes' guest devices (a fresh /dev) |
| CreateVolume / DeleteVolume | creates / deletes a local disk |
| AttachVolume | attaches the local disk and makes the guest device the instance type shows (``guest_devices``) |
| DetachVolume | removes the guest device, detaches the local disk |

Harness endpoints (127.0.0.1 only, no EC2 credentials; like ``/adapter/faults``, never part of
EC2's API): ``POST /ec2-vms/images`` ``{"ami", "stemcell_cid"}`` maps an AMI to a local stemcell;
``GET /ec2-vms/state`` lists what backs what, and every boot failure.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import yaml

from tests.cpi_libcloud.moto_adapter import ACCOUNT_ID, ec2_error
from tests.iaas.ec2_vms import guest_devices
from tests.iaas.ec2_vms.local_cpi import LocalCpi, LocalCpiError

StartResponse = Callable[..., Any]
BACKED_ACTIONS = frozenset({"RunInstances", "TerminateInstances", "RebootInstances", "CreateVolume",
                            "DeleteVolume", "AttachVolume", "DetachVolume"})
# A VM owns its cgroup hierarchy, as any EC2 instance does: the local CPI's delegated cgroup
# v1 memory and pids subtree, writable by the VM's root (a DEA makes its containers' groups
# there; without it the DEA runs apps without memory or process limits).
VM_CLOUD_PROPERTIES: dict[str, Any] = {"cgroups": True}


@dataclass
class BackedInstance:
    vm_cid: str
    ip: str
    instance_type: str
    agent_id: str
    next_nvme: int = 1  # nvme0n1 is the root volume
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)  # volume id -> guest device


@dataclass
class Backing:
    """What backs what; guarded by one lock (moto's server is threaded)."""

    images: dict[str, str] = field(default_factory=dict)        # AMI -> local stemcell cid
    instances: dict[str, BackedInstance] = field(default_factory=dict)
    volumes: dict[str, str] = field(default_factory=dict)       # volume id -> local disk cid
    failures: list[str] = field(default_factory=list)


def cloud_init_env(user_data: str) -> tuple[str, dict[str, Any]]:
    """(agent id, the local CPI's ``env``) from an instance's user data, acting only on what
    cloud-init would act on in a ``#cloud-config`` document: ``ssh_keys`` (sshd's host key)
    and ``ssh_authorized_keys`` (root's too, with ``disable_root: false``). Any other user
    data leaves the VM as a stock image boots: a host key of its own, no key for root."""
    if not user_data.startswith("#cloud-config"):
        document = json.loads(user_data) if user_data.strip() else {}
        return str(((document or {}).get("settings") or {}).get("agent_id") or ""), {}
    document = yaml.safe_load(user_data) or {}
    bosh: dict[str, Any] = {}
    if document.get("disable_root") is False and document.get("ssh_authorized_keys"):
        bosh["authorized_keys"] = list(document["ssh_authorized_keys"])
    keys = document.get("ssh_keys") or {}
    for name, private in keys.items():
        if name.endswith("_private"):
            bosh["host_key"] = {"private_key": private,
                                "public_key": keys.get(name.replace("_private", "_public"), "")}
            break
    agent_id = str((document.get("settings") or {}).get("agent_id") or "")
    return agent_id, ({"bosh": bosh} if bosh else {})


def _text(element: ElementTree.Element, tag: str) -> str:
    found = element.find(f"{{*}}{tag}")  # a direct child: nested items have their own ids
    return (found.text or "") if found is not None else ""


class VmBacking:
    def __init__(self, app: Callable, local: LocalCpi, subnet: str) -> None:
        self.app = app
        self.local = local
        self.subnet = ipaddress.IPv4Network(subnet)
        self.state = Backing()
        self.lock = threading.RLock()

    # --- WSGI ----------------------------------------------------------------------------

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or ""
        if path == "/ec2-vms/images" and environ["REQUEST_METHOD"] == "POST":
            body = json.loads(self._read_body(environ) or b"{}")
            with self.lock:
                self.state.images[str(body["ami"])] = str(body["stemcell_cid"])
            return self._json(start_response, {"ok": True})
        if path == "/ec2-vms/state":
            with self.lock:
                return self._json(start_response, asdict(self.state))
        if path == "/moto-api/reset":
            self._forget_everything()
            return self.app(environ, start_response)
        body = self._read_body(environ)
        params = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
                      + parse_qsl(body.decode(), keep_blank_values=True))
        action = params.get("Action", "")
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list, exc_info: Any = None) -> Callable:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        out = b"".join(self.app(environ, capture))
        if action in BACKED_ACTIONS and captured["status"].startswith("200"):
            try:
                out = getattr(self, f"_after_{action}")(params, out, environ)
            except Exception as error:  # noqa: BLE001 - the harness failed, not EC2: say so loudly
                traceback.print_exc()  # into the server's log
                with self.lock:
                    self.state.failures.append(f"{action}: {error}")
                captured["status"] = "500 Internal Server Error"
                out = ec2_error("InternalError", escape(f"ec2_vms harness: {action}: {error}"))
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], headers + [("Content-Length", str(len(out)))])
        return [out]

    @staticmethod
    def _read_body(environ: dict) -> bytes:
        from tests.cpi_libcloud.moto_adapter import _Body

        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = _Body(body)
        return body

    @staticmethod
    def _json(start_response: StartResponse, data: Any) -> list[bytes]:
        body = json.dumps(data).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    # --- instances -----------------------------------------------------------------------

    def _after_RunInstances(self, params: dict[str, str], out: bytes, environ: dict) -> bytes:
        item = ElementTree.fromstring(out).find(".//{*}instancesSet/{*}item")
        assert item is not None, "RunInstances answered no instance"
        instance_id, ip = _text(item, "instanceId"), _text(item, "privateIpAddress")
        instance_type, ami = _text(item, "instanceType"), params.get("ImageId", "")
        try:
            with self.lock:
                stemcell = self.state.images.get(ami)
            if stemcell is None:
                raise RuntimeError(f"AMI {ami} is not mapped to a local stemcell (POST /ec2-vms/images)")
            user_data = base64.b64decode(params.get("UserData", "")).decode()
            agent_id, env = cloud_init_env(user_data)
            networks = {"ec2": {"type": "manual", "ip": ip, "netmask": str(self.subnet.netmask),
                                "gateway": str(next(self.subnet.hosts())), "cloud_properties": {}}}
            vm_cid, _ = self.local.call("create_vm", agent_id or instance_id, stemcell, VM_CLOUD_PROPERTIES,
                                        networks, [], env)
        except Exception as error:  # noqa: BLE001 - any boot failure ends the instance, as on EC2
            traceback.print_exc()
            self._moto_terminate(environ, [instance_id])
            with self.lock:
                self.state.failures.append(f"RunInstances {instance_id}: {error}")
            return out  # the instance is terminated, as EC2 ends one that cannot start
        with self.lock:
            self.state.instances[instance_id] = BackedInstance(vm_cid, ip, instance_type, agent_id)
        return out

    def _after_TerminateInstances(self, params: dict[str, str], out: bytes, environ: dict) -> bytes:
        for instance_id in _numbered(params, "InstanceId"):
            with self.lock:
                backed = self.state.instances.pop(instance_id, None)
            if backed is not None:
                self._delete_vm(backed)
        return out

    def _after_RebootInstances(self, params: dict[str, str], out: bytes, environ: dict) -> bytes:
        for instance_id in _numbered(params, "InstanceId"):
            with self.lock:
                backed = self.state.instances.get(instance_id)
            if backed is not None:
                self.local.call("reboot_vm", backed.vm_cid)
                pid = guest_devices.init_pid(self.local.vm_dir(backed.vm_cid))
                for plugged in backed.volumes.values():
                    guest_devices.plug(pid, guest_devices.GuestDevice(tuple(map(tuple, plugged["links"]))))
        return out

    def _delete_vm(self, backed: BackedInstance) -> None:
        try:
            self.local.call("delete_vm", backed.vm_cid)
        except LocalCpiError as error:
            if error.type != "VMNotFound":
                raise

    # --- volumes -------------------------------------------------------------------------

    def _after_CreateVolume(self, params: dict[str, str], out: bytes, environ: dict) -> bytes:
        root = ElementTree.fromstring(out)
        volume_id, size_gib = _text(root, "volumeId"), int(_text(root, "size") or 1)
        disk_cid = self.local.call("create_disk", size_gib * 1024, {}, None)
        with self.lock:
            self.state.volumes[volume_id] = disk_cid
        return out

    def _after_DeleteVolume(self, params: dict[str, str], out: bytes, environ: dict) -> bytes:
        with self.lock:
            disk_cid = self.state.volumes.pop(params.get("VolumeId", ""), None)
        if disk_cid is not None:
            self.local.call("delete_disk", disk_cid)
        return out

    def _after_AttachVolume(self, params: dict[str, str], out: bytes, environ: dict) -> bytes:
        volume_id, instance_id = params.get("VolumeId", ""), params.get("InstanceId", "")
        with self.lock:
            backed = self.state.instances.get(instance_id)
            disk_cid = self.state.volumes.get(volume_id)
        if backed is None or disk_cid is None:
            return out  # not ours (made before the harness, or its VM failed): moto's answer stands
        hint = self.local.call("attach_disk", backed.vm_cid, disk_cid)
        with self.lock:
            nvme, backed.next_nvme = backed.next_nvme, backed.next_nvme + 1
        device = guest_devices.guest_device(backed.instance_type, params.get("Device", ""), volume_id,
                                            nvme, hint)
        guest_devices.plug(guest_devices.init_pid(self.local.vm_dir(backed.vm_cid)), device)
        with self.lock:
            backed.volumes[volume_id] = {"disk_cid": disk_cid, "links": [list(x) for x in device.links]}
        return out

    def _after_DetachVolume(self, params: dict[str, str], out: bytes, environ: dict) -> bytes:
        volume_id = params.get("VolumeId", "")
        with self.lock:
            owner = next(((iid, b) for iid, b in self.state.instances.items() if volume_id in b.volumes), None)
        if owner is None:
            return out
        _, backed = owner
        with self.lock:
            plugged = backed.volumes.pop(volume_id)
        device = guest_devices.GuestDevice(tuple(map(tuple, plugged["links"])))
        guest_devices.unplug(guest_devices.init_pid(self.local.vm_dir(backed.vm_cid)), device)
        self.local.call("detach_disk", backed.vm_cid, plugged["disk_cid"])
        return out

    # --- moto's own view -----------------------------------------------------------------

    def _moto_terminate(self, environ: dict, instance_ids: list[str]) -> None:
        from moto.ec2.models import ec2_backends

        from tests.cpi_libcloud.moto_adapter import AUTH_HEADER, release_private_ips

        match = AUTH_HEADER.fullmatch(environ.get("HTTP_AUTHORIZATION", ""))
        region = match.group(3) if match else "us-east-1"
        ec2_backends[ACCOUNT_ID][region].terminate_instances(instance_ids)
        release_private_ips(region, instance_ids)

    def _forget_everything(self) -> None:
        """moto's reset: every backed VM and disk goes too (stemcells stay)."""
        with self.lock:
            instances, volumes = list(self.state.instances.values()), list(self.state.volumes.values())
            self.state = Backing(images={})
        for backed in instances:
            self._delete_vm(backed)
        for disk_cid in volumes:
            try:
                self.local.call("delete_disk", disk_cid)
            except LocalCpiError as error:
                if error.type != "DiskNotFound":
                    raise


def _numbered(params: dict[str, str], name: str) -> list[str]:
    """EC2's ``Name.1``, ``Name.2`` … list parameters, in order."""
    keys = sorted((k for k in params if k.startswith(f"{name}.")), key=lambda k: int(k.split(".")[1]))
    return [params[k] for k in keys]
