"""cgroup v2 (unified) groups for the DEA's containers: ``<root>/<parent>/<instance id>``.

In v2 there is one tree: a group has a controller only when its parent lists it in
cgroup.subtree_control, and a group (other than the root) that hands controllers down
may hold no process itself. So at start (:func:`prepare`) the DEA enables memory and
pids (and cpu where offered) in ``<root>`` and in ``<parent>``; ``<parent>`` holds no
process, each container is a leaf below it, and the DEA itself stays where it was
started. ``<root>`` is the cgroup2 mount point (a cloud VM's /sys/fs/cgroup, as Docker's
cgroupfs driver uses it) or any group delegated to the DEA inside it. Controllers enabled
in ``<root>`` stay enabled when the DEA leaves: others may use them.

The v1 limits map to v2 files: memory.limit_in_bytes to memory.max, memsw to
memory.swap.max 0 (no swap beyond the limit), pids.max to pids.max; cpu.weight shares CPU
in proportion to memory as CF's cpu shares do. Statistics come from memory.events
(oom_kill, max) and memory.stat (anon + file).
"""

from __future__ import annotations

import errno
from pathlib import Path

from .cgroup_layout import Layout

REQUIRED = ("memory", "pids")
OPTIONAL = ("cpu",)
GIB = 1024 * 1024 * 1024


class CgroupV2Error(Exception):
    pass


def is_unified(path: Path) -> bool:
    """Every directory of a cgroup2 file system has cgroup.controllers; a v1 hierarchy and
    the tmpfs holding v1 mounts have none (cheap, so each container can ask)."""
    return (path / "cgroup.controllers").is_file()


def cpu_weight(memory_bytes: int) -> int:
    """CPU in proportion to memory (CF gives cpu shares by memory): 1 GiB gets v2's default
    weight of 100, within v2's range 1..10000."""
    return max(1, min(10000, memory_bytes * 100 // GIB))


def limit_files(memory_bytes: int, pids_max: int, cpu: bool) -> dict[str, str]:
    """{file: value} of one container's limits (``cpu``: the cpu controller is there)."""
    files = {"memory.max": str(memory_bytes), "pids.max": str(pids_max)}
    if cpu:
        files["cpu.weight"] = str(cpu_weight(memory_bytes))
    return files


def write_files(group: Path, files: dict[str, str]) -> None:
    """Write each file of ``group``; a missing one means its controller is not enabled."""
    for name, value in files.items():
        path = group / name
        if not path.is_file():
            raise CgroupV2Error(f"{path} does not exist: the {name.partition('.')[0]} controller is not "
                                f"enabled for {group.parent}'s children")
        path.write_text(value)


def create(group: Path, memory_bytes: int, pids_max: int) -> None:
    """Make the leaf and set its limits (the caller removes it on failure)."""
    group.mkdir(exist_ok=True)
    write_files(group, limit_files(memory_bytes, pids_max, cpu=(group / "cpu.weight").is_file()))
    swap = group / "memory.swap.max"
    if swap.is_file():  # only with swap accounting; keeps swap from stretching the limit
        try:
            swap.write_text("0")
        except OSError:
            pass


def parse_flat_keyed(text: str) -> dict[str, int]:
    """``key value`` lines (memory.events, memory.stat) into a dict."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            values[key] = int(value)
    return values


def memory_events(group: Path) -> dict[str, int]:
    try:
        return parse_flat_keyed((group / "memory.events").read_text())
    except OSError:
        return {}


def memory_usage(group: Path) -> int | None:
    """Anonymous + page cache bytes, as v1's rss + cache."""
    try:
        stats = parse_flat_keyed((group / "memory.stat").read_text())
    except OSError:
        return None
    return stats.get("anon", 0) + stats.get("file", 0)


def kill(group: Path) -> None:
    """cgroup.kill (Linux 5.14+) SIGKILLs the whole group at once, forks racing included;
    the caller still waits for cgroup.procs to empty."""
    try:
        (group / "cgroup.kill").write_text("1")
    except OSError:
        pass


def _enable(group: Path, controllers: list[str]) -> None:
    """Add ``controllers`` to the group's cgroup.subtree_control (those not there yet)."""
    control = group / "cgroup.subtree_control"
    enabled = set(control.read_text().split())
    todo = [c for c in controllers if c not in enabled]
    if todo:
        control.write_text(" ".join(f"+{c}" for c in todo))


def prepare(root: Path, parent: str, layout: Layout) -> str | None:
    """Enable the controllers down to ``<root>/<parent>``: None when containers can be made
    there, otherwise what is wrong and what to change."""
    try:
        offered = set((root / "cgroup.controllers").read_text().split())
    except OSError as error:
        return f"{root} is in a cgroup v2 file system but is not a group: {error.strerror or error}"
    missing = [c for c in REQUIRED if c not in offered]
    if missing:
        return _missing(root, missing, offered, layout)
    base = root / parent
    own = layout.own_dir()
    if own is not None and (own == base or base in own.parents):
        return (f"the DEA itself runs in cgroup {own}, inside {base} where its containers go "
                f"(cgroup v2 lets only leaf groups hold processes): set cgroup_parent to a group outside it")
    for group in (root, base):
        try:
            if group == base:
                base.mkdir(exist_ok=True)
            _enable(group, list(REQUIRED))
        except OSError as error:
            return _cannot_enable(group, error, own)
        try:
            _enable(group, [c for c in OPTIONAL if c in offered])
        except OSError:
            pass  # cpu refuses while realtime processes sit outside the root: weights are a bonus
    return None


def _missing(root: Path, missing: list[str], offered: set[str], layout: Layout) -> str:
    what = (f"{root} is a cgroup v2 group without the {' and '.join(missing)} controller"
            f"{'s' if len(missing) > 1 else ''} (cgroup.controllers: {' '.join(sorted(offered)) or 'none'})")
    held = {layout.v1_points[c] for c in missing if c in layout.v1_points}
    if held:
        v1_roots = sorted({str(Path(point).parent) for point in held})
        return (f"{what}: this host binds them to cgroup v1 hierarchies ({', '.join(sorted(held))}, a hybrid "
                f"host): set cgroup_root to {' or '.join(v1_roots)}, or boot the host with "
                f"systemd.unified_cgroup_hierarchy=1 for cgroup v2 alone")
    return (f"{what}: enable them in the cgroup.subtree_control of its parent group (for a systemd "
            f"unit: Delegate=yes), or set cgroup_root to a group that has them")


def _cannot_enable(group: Path, error: OSError, own: Path | None) -> str:
    control = group / "cgroup.subtree_control"
    if error.errno == errno.EBUSY:
        whose = " (the DEA's own process among them)" if own == group else ""
        return (f"cannot enable {' and '.join(REQUIRED)} in {control}: {group} holds processes of its own"
                f"{whose}, and cgroup v2 lets only leaf groups (and the root) hold processes: move them "
                f"into a child group (as systemd's init.scope), or set cgroup_root to a group without "
                f"processes")
    return (f"cannot set up {control}: {error.strerror or error} (the DEA needs write access there: run it "
            f"as root, or delegate the group to the DEA's user)")
