"""What the libcloud CPI tests hold: moto behind its adapter as a real HTTP server on
127.0.0.1, a way to call the real ``bosh-py-cpi-libcloud`` executable (one process per
call, as the director does), and moto's own view of what exists.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from libcloud.compute.providers import get_driver
from libcloud.compute.types import Provider

REPO = Path(__file__).resolve().parents[2]
CPI = Path(sys.executable).parent / "bosh-py-cpi-libcloud"
REGION = "us-east-1"


@dataclass
class MotoEc2:
    """moto's EC2 behind ``moto_adapter``, in a subprocess this test run started."""

    process: subprocess.Popen
    port: int
    access_key: str
    secret_key: str = field(repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # by PID: this process is ours
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).read()

    def inject(self, action: str, code: str, times: int = 1) -> None:
        """The next ``times`` calls of EC2 ``action`` answer error ``code`` (moto_adapter)."""
        body = urllib.parse.urlencode({"action": action, "code": code, "times": times}).encode()
        request = urllib.request.Request(f"{self.endpoint}/adapter/faults", data=body)
        urllib.request.urlopen(request, timeout=10).read()

    def state(self) -> dict[str, list[dict[str, Any]]]:
        """moto's own listing of every EC2 resource (not through the adapter or libcloud)."""
        with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=10) as answer:
            return json.load(answer)["ec2"]

    def live_instances(self) -> list[str]:
        """Instances EC2's DescribeInstances lists as not terminated (data.json walks
        every live object, so a half-built one moto dropped may linger there)."""
        return [n.id for n in self.driver().list_nodes()
                if n.extra.get("status") not in ("terminated", "shutting-down")]

    def volumes(self) -> list[dict[str, Any]]:
        """Attributes only: data.json walks live objects, so a deleted one may linger."""
        return self.state().get("Volume", [])

    def volume_ids(self) -> list[str]:
        """The volumes EC2's DescribeVolumes lists now."""
        return [v.id for v in self.driver().list_volumes()]

    def snapshot_ids(self) -> list[str]:
        return [s.id for s in self.driver().list_snapshots(owner="self")]

    def user_data(self, instance_id: str) -> str:
        """The instance's user data as EC2's DescribeInstanceAttribute returns it
        (moto's data.json leaves user data out)."""
        from libcloud.compute.drivers.ec2 import NAMESPACE
        from libcloud.utils.xml import findtext

        driver = self.driver()
        answer = driver.connection.request("/", params={
            "Action": "DescribeInstanceAttribute", "InstanceId": instance_id,
            "Attribute": "userData"}).object
        return base64.b64decode(findtext(answer, "userData/value", NAMESPACE)).decode()

    def driver(self) -> Any:
        """libcloud's EC2 driver on this server: the tests' own set-up tool."""
        return get_driver(Provider.EC2)(self.access_key, self.secret_key, region=REGION,
                                        host="127.0.0.1", port=self.port, secure=False,
                                        signature_version="4")


def start_moto(log: Path) -> MotoEc2:
    access_key = "AKIA" + secrets.token_hex(8).upper()
    secret_key = secrets.token_urlsafe(30)
    env = dict(os.environ, MOTO_ADAPTER_ACCESS_KEY=access_key, MOTO_ADAPTER_SECRET_KEY=secret_key,
               MOTO_ENABLE_AMI_VALIDATION="1", MOTO_ENABLE_KEYPAIR_VALIDATION="1",
               PYTHONPATH=str(REPO))
    with log.open("wb") as errors:
        process = subprocess.Popen([sys.executable, "-m", "tests.cpi_libcloud.moto_adapter"],
                                   env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=errors)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.strip().isdigit():
        process.kill()
        process.wait()
        raise RuntimeError(f"moto adapter did not start: {log.read_text()[-2000:]}")
    return MotoEc2(process, int(line), access_key, secret_key)


@dataclass
class World:
    """What an operator creates first on EC2: a subnet, a key pair, a security group, an AMI."""

    ami: str
    subnet_id: str
    subnet_cidr: str
    zone: str
    key_name: str
    security_group_id: str


def make_world(moto: MotoEc2) -> World:
    driver = moto.driver()
    vpc = driver.ex_create_network("10.20.0.0/16", name="bosh")
    subnet = driver.ex_create_subnet(vpc.id, "10.20.1.0/24", f"{REGION}a", name="bosh-1")
    driver.create_key_pair("bosh")
    group = driver.ex_create_security_group("bosh", "bosh VMs", vpc_id=vpc.id)
    ami = driver.list_images(ex_owner="amazon")[0].id
    return World(ami, subnet.id, "10.20.1.0/24", f"{REGION}a", "bosh", group["group_id"])


@dataclass
class Cpi:
    """The real executable, one process per call."""

    config_path: Path
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (method, stdout, stderr)

    def call(self, method: str, *arguments: Any) -> dict[str, Any]:
        request = {"method": method, "arguments": list(arguments), "api_version": 2,
                   "context": {"director_uuid": "test-director", "request_id": "r-1"}}
        done = subprocess.run([str(CPI), str(self.config_path)], input=json.dumps(request),
                              capture_output=True, text=True, timeout=120, check=False)
        self.calls.append((method, done.stdout, done.stderr))
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def result(self, method: str, *arguments: Any) -> Any:
        """The call's result; the test fails with the CPI's own error if there is one."""
        response = self.call(method, *arguments)
        assert response["error"] is None, f"{method}: {response['error']}"
        return response["result"]

    def error(self, method: str, *arguments: Any) -> dict[str, Any]:
        response = self.call(method, *arguments)
        assert response["error"] is not None, f"{method} should fail, answered {response}"
        return response["error"]


def write_config(path: Path, moto: MotoEc2, world: World | None, **overrides: Any) -> Path:
    aws = {"access_key_id": moto.access_key, "secret_access_key": moto.secret_key,
           "region": REGION, "endpoint": moto.endpoint,
           "default_key_name": world.key_name if world else None,
           "default_security_groups": [world.security_group_id] if world else []}
    aws.update(overrides)
    path.write_text(json.dumps({"provider": "aws", "aws": aws,
                                "agent": {"mbus": "nats://127.0.0.1:4222"}}))
    path.chmod(0o600)
    return path
