"""What a bpm container sees: a pure plan of mounts and of the VM directories they need.

Kept apart from the code that mounts (``rootfs``) so the isolation rules read in one place
and are tested without root: the stemcell read-only, the job's own rendered templates and
the VM's packages read-only, and writable only the job's data, log and run directories,
its persistent store when asked for, and the declared additional volumes. The pidfiles
(``/var/vcap/sys/run/bpm/JOB``) are bpm's, never mounted: a job that could rewrite its own
pidfile could make ``bpm stop`` signal another process.
"""

from __future__ import annotations

from dataclasses import dataclass

from bosh_py.agent.bpm.config import BpmProcess

SYSTEM_DIRS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
VCAP = "/var/vcap"


@dataclass(frozen=True)
class Mount:
    """A bind mount of a VM path at the same path in the container."""
    path: str
    writable: bool
    executable: bool = True
    source: str | None = None   # default: ``path`` on the VM

    @property
    def host_path(self) -> str:
        return self.source or self.path


@dataclass(frozen=True)
class Plan:
    mounts: tuple[Mount, ...]
    vcap_dirs: tuple[str, ...]      # VM directories bpm creates, owned by vcap
    workdir: str
    env: tuple[tuple[str, str], ...]


def job_paths(job: str) -> dict[str, str]:
    return {"jobs": f"{VCAP}/jobs/{job}", "data": f"{VCAP}/data/{job}", "tmp": f"{VCAP}/data/{job}/tmp",
            "log": f"{VCAP}/sys/log/{job}", "run": f"{VCAP}/sys/run/{job}", "store": f"{VCAP}/store/{job}"}


def pid_dir(job: str) -> str:
    return f"{VCAP}/sys/run/bpm/{job}"


def plan_container(process: BpmProcess, job_dir: str) -> Plan:
    """``job_dir``: where /var/vcap/jobs/JOB really lives on the VM (the link resolved)."""
    p = job_paths(process.job)
    mounts = [Mount(p["jobs"], writable=False, source=job_dir),
              Mount(f"{VCAP}/packages", writable=False),
              Mount(f"{VCAP}/data/packages", writable=False),
              Mount(p["data"], writable=True),
              Mount(p["log"], writable=True, executable=False),
              Mount(p["run"], writable=True, executable=False),
              Mount("/tmp", writable=True, source=p["tmp"]),
              Mount("/var/tmp", writable=True, source=p["tmp"])]
    vcap_dirs = [p["data"], p["tmp"], p["log"], p["run"]]
    if process.persistent_disk:
        mounts.append(Mount(p["store"], writable=True))
        vcap_dirs.append(p["store"])
    for volume in process.additional_volumes:
        mounts.append(Mount(volume.path, writable=volume.writable, executable=volume.allow_executions))
        if not volume.mount_only:
            vcap_dirs.append(volume.path)
    # parents before children, as bpm sorts them, so a volume inside data/JOB stays visible
    mounts.sort(key=lambda m: (m.path.count("/"), m.path))
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8",
           "HOME": p["data"], "TMPDIR": p["tmp"], "USER": "vcap"}
    env.update(dict(process.env))
    return Plan(tuple(mounts), tuple(dict.fromkeys(vcap_dirs)), process.workdir or p["data"],
                tuple(sorted(env.items())))
