"""EC2 instance types a VM type's cpu/ram can be mapped to (calculate_vm_cloud_properties).

General-purpose families only, smallest first, as BOSH's AWS CPI picks the cheapest type
that fits; (name, vCPUs, memory MiB).
"""

from __future__ import annotations

INSTANCE_TYPES: tuple[tuple[str, int, int], ...] = (
    ("t3.micro", 2, 1024), ("t3.small", 2, 2048), ("t3.medium", 2, 4096),
    ("m5.large", 2, 8192), ("m5.xlarge", 4, 16384), ("m5.2xlarge", 8, 32768),
    ("m5.4xlarge", 16, 65536), ("m5.8xlarge", 32, 131072), ("m5.12xlarge", 48, 196608),
    ("m5.16xlarge", 64, 262144), ("m5.24xlarge", 96, 393216),
)


def smallest_fitting(cpu: int, ram_mb: int) -> str | None:
    """The first (smallest) type with at least ``cpu`` vCPUs and ``ram_mb`` MiB, or None."""
    for name, vcpus, memory in INSTANCE_TYPES:
        if vcpus >= cpu and memory >= ram_mb:
            return name
    return None
