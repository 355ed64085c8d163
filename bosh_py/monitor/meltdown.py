"""Meltdown protection, as BOSH's resurrector does it: when too many instances of a
deployment are down at once, the cause is probably not the VMs (a network split, the
director's own NATS), and recreating them all would make things worse."""

from __future__ import annotations


def in_meltdown(unhealthy: int, total: int, minimum_down: int = 5, percent_threshold: float = 0.2) -> bool:
    """True when unhealthy ≥ minimum_down AND unhealthy/total ≥ percent_threshold."""
    if total <= 0:
        return False
    return unhealthy >= minimum_down and unhealthy / total >= percent_threshold
