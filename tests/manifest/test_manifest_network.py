import pytest

from bosh_py.manifest import SubnetIPs, allocate_dynamic_ip, expand_ip_entries, parse_ip_entries
from bosh_py.manifest.models import ManualSubnet


def subnet(**overrides) -> SubnetIPs:
    fields = {"range": "10.0.0.0/24", "gateway": "10.0.0.1", "reserved": ["10.0.0.2 - 10.0.0.4"],
              "static": ["10.0.0.10-10.0.0.12", "10.0.0.20"], "azs": ["z1"]}
    fields.update(overrides)
    return SubnetIPs.from_subnet(ManualSubnet.model_validate(fields))


def test_expand_entries() -> None:
    assert expand_ip_entries(["10.0.0.1 - 10.0.0.3", "10.0.0.9"]) == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.9"]
    assert parse_ip_entries(["10.0.0.5", "10.0.0.1 - 10.0.0.4", "10.0.0.8/30"]) == (
        (167772161, 167772165), (167772168, 167772171))
    with pytest.raises(ValueError, match="not a valid range"):
        expand_ip_entries(["10.0.0.5 - 10.0.0.1"])
    with pytest.raises(ValueError, match="more than 65536"):
        expand_ip_entries(["10.0.0.0 - 10.255.0.0"])


def test_pools() -> None:
    pool = subnet()
    assert pool.is_static("10.0.0.11") and not pool.is_static("10.0.0.13")
    assert pool.is_reserved("10.0.0.3")
    assert pool.contains("10.0.0.200") and not pool.contains("10.0.1.1")
    # 254 hosts - gateway - 3 reserved - 4 static
    assert pool.dynamic_capacity() == 246


def test_allocate_first_free_dynamic_ip() -> None:
    pool = subnet()
    assert pool.allocate_dynamic_ip([]) == "10.0.0.5"
    assert pool.allocate_dynamic_ip(["10.0.0.5", "10.0.0.6", "10.0.0.7", "10.0.0.8", "10.0.0.9"]) == "10.0.0.13"


def test_allocate_exhausted_and_across_subnets() -> None:
    tiny = subnet(range="10.0.0.0/29", reserved=[], static=["10.0.0.2 - 10.0.0.5"])  # hosts .1-.6
    assert tiny.dynamic_capacity() == 1
    assert tiny.allocate_dynamic_ip(["10.0.0.6"]) is None
    other = subnet(range="10.0.1.0/24", gateway="10.0.1.1", reserved=[], static=[], azs=["z2"])
    assert allocate_dynamic_ip([tiny, other], ["10.0.0.6"]) == "10.0.1.2"
    assert allocate_dynamic_ip([tiny, other], [], az="z2") == "10.0.1.2"


def test_large_ranges_are_not_expanded() -> None:
    big = subnet(range="10.0.0.0/8", gateway="10.0.0.1", reserved=["10.0.0.2 - 10.254.255.255"], static=[])
    assert big.allocate_dynamic_ip([]) == "10.255.0.0"
    v6 = subnet(range="fd00::/64", gateway="fd00::1", reserved=[], static=["fd00::2 - fd00::ff"])
    assert v6.allocate_dynamic_ip(["fd00::100"]) == "fd00::101"
