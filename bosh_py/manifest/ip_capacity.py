"""Do a manual network's dynamic addresses suffice, AZ by AZ, the way the planner takes
them? (pure)

The planner puts instance ``i`` of a group in ``azs[i % len(azs)]`` and gives it the first
free dynamic address of the first subnet serving that AZ, in the cloud-config's order
(``director/ip_allocation.py``; a subnet without ``azs`` serves every AZ, a group without
``azs`` takes any subnet). A network with 2 free addresses in z1 and 10 in z2 has 12 in
all, yet cannot hold 3 instances spread over z1 and z2: the second z1 instance finds z1
full. So validation replays that placement, counting addresses, not choosing them (any
dynamic address of a subnet is as good as another), and names the AZ that runs out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bosh_py.manifest.network import SubnetIPs


@dataclass(frozen=True)
class DynamicDemand:
    """One instance group's instances that need a dynamic address on the network."""

    group: str
    path: str  # where an error about this group goes (its networks/N/name)
    instances: int
    azs: tuple[str, ...]  # the group's azs; empty: none (any subnet)


@dataclass(frozen=True)
class Shortfall:
    group: str
    path: str
    az: str | None
    capacity: int  # dynamic addresses of the subnets serving ``az``
    needed: int  # instances placed in ``az`` by every group on the network
    groups: tuple[str, ...]  # the groups with instances in ``az``
    taken_by_other_azs: int  # addresses of those subnets that instances of other AZs took first

    def message(self, network: str) -> str:
        where = f" in az '{self.az}'" if self.az else ""
        text = (f"network '{network}' has {self.capacity} dynamic IP(s){where} for {self.needed} "
                f"instance(s) placed there (instance groups: {', '.join(self.groups)})")
        if self.taken_by_other_azs:
            text += (f"; its subnets also serve other azs, whose instances take {self.taken_by_other_azs} "
                     "of them first")
        return text


def _serves(subnet: SubnetIPs, az: str | None) -> bool:
    return not subnet.azs or az is None or az in subnet.azs


def placements(demand: DynamicDemand) -> list[str | None]:
    """The AZ of each instance, by index, as the planner spreads a new group."""
    if not demand.azs:
        return [None] * demand.instances
    return [demand.azs[index % len(demand.azs)] for index in range(demand.instances)]


def first_shortfall(subnets: Sequence[SubnetIPs], demands: Sequence[DynamicDemand]) -> Shortfall | None:
    """The first instance (groups in manifest order, then by index) that would find no free
    dynamic address in its AZ, described with the counts of that AZ; None when all fit."""
    free = [subnet.dynamic_capacity() for subnet in subnets]
    taken_by: list[dict[str | None, int]] = [{} for _ in subnets]
    for demand in demands:
        for az in placements(demand):
            home = next((n for n, subnet in enumerate(subnets) if _serves(subnet, az) and free[n] > 0), None)
            if home is not None:
                free[home] -= 1
                taken_by[home][az] = taken_by[home].get(az, 0) + 1
                continue
            serving = [n for n, subnet in enumerate(subnets) if _serves(subnet, az)]
            if not serving:
                continue  # "no subnet in az" is reported by validation on its own
            in_az = [(d.group, placements(d).count(az)) for d in demands]
            return Shortfall(
                group=demand.group, path=demand.path, az=az,
                capacity=sum(subnets[n].dynamic_capacity() for n in serving),
                needed=sum(count for _, count in in_az),
                groups=tuple(dict.fromkeys(group for group, count in in_az if count)),
                taken_by_other_azs=sum(count for n in serving for other, count in taken_by[n].items() if other != az))
    return None
