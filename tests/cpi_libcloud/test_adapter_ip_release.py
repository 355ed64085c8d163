"""BOSH recreates a VM on its static IP; EC2 frees a terminated instance's private IP, moto
alone does not (moto_adapter releases it). Through the executable, as the director does."""

from __future__ import annotations

from tests.cpi_libcloud.support import Cpi, World


def test_a_static_ip_is_free_again_once_its_instance_is_terminated(cpi: Cpi, world: World) -> None:
    props = {"instance_type": "t3.micro", "availability_zone": world.zone, "subnet_id": world.subnet_id}
    networks = {"private": {"type": "manual", "ip": "10.20.1.40", "netmask": "255.255.255.0",
                            "gateway": "10.20.1.1", "default": ["dns", "gateway"]}}
    first, _ = cpi.result("create_vm", "agent-a", world.ami, props, networks, [], {})
    cpi.result("delete_vm", first)
    second, assigned = cpi.result("create_vm", "agent-b", world.ami, props, networks, [], {})
    assert second != first and assigned["private"]["ip"] == "10.20.1.40"
