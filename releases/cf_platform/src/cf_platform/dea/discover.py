"""The classic ``dea.discover`` answer: whether this DEA can take the app, and how long to
wait before saying so.

Every DEA with room answers, each after a delay that grows with its load, and the cloud
controller takes the first answer: so the least loaded DEA wins without any DEA knowing
about the others (vcap dea/lib/dea/agent.rb, ``calculate_help_taint``).
"""

from __future__ import annotations

TAINT_MS_PER_APP = 10      # per instance of this app already here: spreads an app's instances
TAINT_MS_FOR_MEM = 100     # times the fraction of memory reserved
TAINT_MAX_DELAY_MS = 250


def delay_seconds(instances_of_app: int, reserved_mb: int, max_mb: int) -> float:
    taint = instances_of_app * TAINT_MS_PER_APP
    if max_mb > 0:
        taint += TAINT_MS_FOR_MEM * reserved_mb / max_mb
    return min(taint, TAINT_MAX_DELAY_MS) / 1000.0


def has_room(wanted_mem_mb: int, wanted_disk_mb: int, available_mem_mb: int, available_disk_mb: int) -> bool:
    return wanted_mem_mb <= available_mem_mb and wanted_disk_mb <= available_disk_mb
