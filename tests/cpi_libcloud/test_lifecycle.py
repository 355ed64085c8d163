"""BOSH's CPI lifecycle specs for the EC2 provider, through the real executable against
moto's EC2 (behind its adapter), checked against moto's own listing."""

from __future__ import annotations

import yaml

from tests.cpi_libcloud.support import Cpi, MotoEc2, World

NETWORK = {"default": {"type": "dynamic", "cloud_properties": {}, "default": ["dns", "gateway"]}}


def vm_props(world: World, **extra: object) -> dict:
    return {"instance_type": "t3.micro", "availability_zone": world.zone,
            "subnet_id": world.subnet_id, **extra}


def moto_instance(moto: MotoEc2, vm_cid: str) -> dict:
    (found,) = [i for i in moto.state()["Instance"] if i["id"] == vm_cid]
    return found


def moto_volume(moto: MotoEc2, disk_cid: str) -> dict:
    (found,) = [v for v in moto.volumes() if v["id"] == disk_cid]
    return found


def attached_to(moto: MotoEc2, disk_cid: str) -> str | None:
    """The instance moto says the volume is attached to (its VolumeAttachment records)."""
    holders = [a["instance_id"] for a in moto.state().get("VolumeAttachment", [])
               if a["volume_id"] == disk_cid and a["status"] == "attached"]
    return holders[0] if holders else None


def tags_of(resource: dict) -> dict[str, str]:
    return {t["key"] if "key" in t else t["Key"]: t["value"] if "value" in t else t["Value"]
            for t in resource.get("tag_list") or resource.get("tags") or []}


def test_info_names_the_light_stemcell_format(cpi: Cpi) -> None:
    assert cpi.result("info") == {"stemcell_formats": ["aws-light"], "api_version": 2}


def test_light_stemcell_names_an_existing_ami(cpi: Cpi, world: World) -> None:
    assert cpi.result("create_stemcell", "/unused.tgz", {"ami": {"us-east-1": world.ami}}) == world.ami
    missing = cpi.error("create_stemcell", "/unused.tgz", {"ami_id": "ami-00000000"})
    assert missing["type"] == "CloudError" and "ami-00000000" in missing["message"]
    assert cpi.result("delete_stemcell", world.ami) is None


def test_vm_and_disk_lifecycle(cpi: Cpi, moto: MotoEc2, world: World) -> None:
    env = {"bosh": {"group": "nats"}}
    vm_cid, networks = cpi.result("create_vm", "agent-1", world.ami,
                                  vm_props(world, tags={"team": "core"}), NETWORK, [], env)
    instance = moto_instance(moto, vm_cid)
    assert instance["instance_type"] == "t3.micro" and instance["subnet_id"] == world.subnet_id
    assert instance["key_name"] == world.key_name
    assert networks["default"]["ip"] == instance["private_ip_address"]
    user_data = yaml.safe_load(moto.user_data(vm_cid))  # a #cloud-config document (JSON body)
    assert user_data["settings"]["agent_id"] == "agent-1"
    assert user_data["settings"]["env"] == env
    assert user_data["settings"]["mbus"] == "nats://127.0.0.1:4222"
    assert cpi.result("has_vm", vm_cid) is True

    cpi.result("set_vm_metadata", vm_cid, {"job": "nats", "index": "0", "deployment": "nats"})
    tags = tags_of(moto_instance(moto, vm_cid))
    assert tags["deployment"] == "nats" and tags["Name"] == "nats/0" and tags["team"] == "core"

    disk_cid = cpi.result("create_disk", 1500, {}, vm_cid)
    volume = moto_volume(moto, disk_cid)
    assert volume["size"] == 2 and volume["availability_zone"] == world.zone  # 1500 MB → 2 GiB
    assert cpi.result("has_disk", disk_cid) is True

    hint = cpi.result("attach_disk", vm_cid, disk_cid)
    assert hint == {"path": "/dev/sdf", "volume_id": disk_cid}  # the agent resolves both
    assert attached_to(moto, disk_cid) == vm_cid
    assert cpi.result("get_disks", vm_cid) == [disk_cid]
    cpi.result("set_disk_metadata", disk_cid, {"deployment": "nats"})
    assert tags_of(moto_volume(moto, disk_cid))["deployment"] == "nats"

    cpi.result("detach_disk", vm_cid, disk_cid)
    assert attached_to(moto, disk_cid) is None
    assert cpi.result("get_disks", vm_cid) == []

    snapshot_cid = cpi.result("snapshot_disk", disk_cid, {"deployment": "nats"})
    assert moto.snapshot_ids().count(snapshot_cid) == 1
    cpi.result("delete_snapshot", snapshot_cid)
    assert snapshot_cid not in moto.snapshot_ids()

    cpi.result("delete_disk", disk_cid)
    assert disk_cid not in moto.volume_ids()
    assert cpi.result("has_disk", disk_cid) is False
    cpi.result("reboot_vm", vm_cid)
    cpi.result("delete_vm", vm_cid)
    assert moto_instance(moto, vm_cid)["state"] == "terminated"
    assert cpi.result("has_vm", vm_cid) is False


def test_second_disk_gets_the_next_free_device(cpi: Cpi, world: World) -> None:
    vm_cid, _ = cpi.result("create_vm", "agent-2", world.ami, vm_props(world), NETWORK, [], {})
    first = cpi.result("create_disk", 1024, {}, vm_cid)
    second = cpi.result("create_disk", 1024, {"type": "gp2"}, vm_cid)
    assert cpi.result("attach_disk", vm_cid, first)["path"] == "/dev/sdf"
    assert cpi.result("attach_disk", vm_cid, second)["path"] == "/dev/sdg"
    assert cpi.result("attach_disk", vm_cid, first)["path"] == "/dev/sdf"  # already there: same hint
    assert cpi.result("get_disks", vm_cid) == sorted([first, second])


def test_static_ip_on_a_manual_network(cpi: Cpi, moto: MotoEc2, world: World) -> None:
    networks = {"private": {"type": "manual", "ip": "10.20.1.37", "netmask": "255.255.255.0",
                            "gateway": "10.20.1.1", "default": ["dns", "gateway"],
                            "cloud_properties": {"subnet": world.subnet_id}}}
    props = {"instance_type": "t3.micro", "availability_zone": world.zone}
    vm_cid, answered = cpi.result("create_vm", "agent-3", world.ami, props, networks, [], {})
    assert moto_instance(moto, vm_cid)["private_ip_address"] == "10.20.1.37"
    assert answered["private"]["ip"] == "10.20.1.37"


def test_disk_locality_puts_the_vm_in_the_disk_zone(cpi: Cpi, moto: MotoEc2,
                                                     world: World) -> None:
    disk_cid = cpi.result("create_disk", 1024, {"availability_zone": "us-east-1b"}, None)
    props = {"instance_type": "t3.micro"}
    vm_cid, _ = cpi.result("create_vm", "agent-4", world.ami, props, NETWORK, [disk_cid], {})
    assert moto_instance(moto, vm_cid)["availability_zone"] == "us-east-1b"


def test_resize_disk_grows_and_never_shrinks(cpi: Cpi, moto: MotoEc2, world: World) -> None:
    disk_cid = cpi.result("create_disk", 1024, {"availability_zone": world.zone}, None)
    cpi.result("resize_disk", disk_cid, 4096)
    assert moto_volume(moto, disk_cid)["size"] == 4
    shrink = cpi.error("resize_disk", disk_cid, 1024)
    assert shrink["type"] == "CloudError" and "shrink" in shrink["message"]


def test_calculate_vm_cloud_properties_picks_the_smallest_fit(cpi: Cpi) -> None:
    answer = cpi.result("calculate_vm_cloud_properties",
                        {"cpu": 4, "ram": 9000, "ephemeral_disk_size": 20480})
    assert answer == {"instance_type": "m5.xlarge", "ephemeral_disk": {"size": 20480, "type": "gp3"}}


def test_attach_takes_the_next_device_when_ec2_says_in_use(cpi: Cpi, moto: MotoEc2,
                                                           world: World) -> None:
    """Two attaches racing for /dev/sdf: EC2 answers VolumeInUse to the loser, which moves on."""
    vm_cid, _ = cpi.result("create_vm", "agent-5", world.ami, vm_props(world), NETWORK, [], {})
    disk_cid = cpi.result("create_disk", 1024, {}, vm_cid)
    moto.inject("AttachVolume", "VolumeInUse")
    assert cpi.result("attach_disk", vm_cid, disk_cid)["path"] == "/dev/sdg"
    assert attached_to(moto, disk_cid) == vm_cid
    assert "/dev/sdf on" in cpi.calls[-1][1]  # the retry is in the call's log
