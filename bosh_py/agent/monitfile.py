"""A job's ``monit`` file: bosh-py's YAML list of foreground processes (docs/internals.md).

YAML through PyYAML's pure-Python part, bundled in the agent zipapp; JSON (a subset of
YAML) still parses if PyYAML is missing, so the agent degrades instead of failing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bosh_py.agent.errors import AgentActionError

try:
    import yaml as _yaml
except ImportError:  # pragma: no cover
    _yaml = None


@dataclass(frozen=True)
class ProcessSpec:
    job: str
    name: str
    executable: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    working_dir: str | None = None

    @property
    def key(self) -> str:
        return f"{self.job}/{self.name}"


def _load(text: str) -> Any:
    if _yaml is not None:
        return _yaml.safe_load(text)
    return json.loads(text)


def parse_monit(job: str, text: str) -> list[ProcessSpec]:
    try:
        data = _load(text) if text.strip() else {}
    except Exception as e:  # yaml.YAMLError / ValueError
        raise AgentActionError(f"Job {job}: monit file is not valid YAML: {e}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise AgentActionError(f"Job {job}: monit file must be a mapping with 'processes' "
                               "(bosh-py's YAML format, not monit syntax)")
    procs = data.get("processes") or []
    if not isinstance(procs, list):
        raise AgentActionError(f"Job {job}: monit processes: expected a list")
    specs: list[ProcessSpec] = []
    seen: set[str] = set()
    for i, p in enumerate(procs):
        where = f"Job {job}: monit processes/{i}"
        if not isinstance(p, dict):
            raise AgentActionError(f"{where}: expected a mapping")
        name, exe = p.get("name"), p.get("executable")
        if not isinstance(name, str) or not name or "/" in name:
            raise AgentActionError(f"{where}/name: expected a name without '/'")
        if name in seen:
            raise AgentActionError(f"{where}/name: duplicate process {name!r}")
        seen.add(name)
        if not isinstance(exe, str) or not exe:
            raise AgentActionError(f"{where}/executable: expected a path")
        args = p.get("args") or []
        if not isinstance(args, list):
            raise AgentActionError(f"{where}/args: expected a list")
        env = p.get("env") or {}
        if not isinstance(env, dict):
            raise AgentActionError(f"{where}/env: expected a mapping")
        wd = p.get("working_dir")
        if wd is not None and not isinstance(wd, str):
            raise AgentActionError(f"{where}/working_dir: expected a path")
        specs.append(ProcessSpec(job, name, exe, tuple(str(a) for a in args),
                                 tuple(sorted((str(k), str(v)) for k, v in env.items())), wd))
    return specs


def load_job_processes(jobs_dir: Path) -> list[ProcessSpec]:
    """All processes of all installed jobs (``jobs_dir/<job>/monit``), in job order."""
    specs: list[ProcessSpec] = []
    if not jobs_dir.is_dir():
        return specs
    for job_dir in sorted(jobs_dir.iterdir()):
        monit = job_dir / "monit"
        if monit.is_file():
            specs.extend(parse_monit(job_dir.name, monit.read_text()))
    return specs
