"""A job's ``monit`` file, in either of two formats detected per file (docs/internals.md):
classic monit syntax as BOSH releases ship it (``check process ...``, parsed by
``monit_classic``) or bosh-py's YAML list of foreground processes.

YAML through PyYAML's pure-Python part, bundled in the agent zipapp; JSON (a subset of
YAML) still parses if PyYAML is missing, so the agent degrades instead of failing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bosh_py.agent.errors import AgentActionError
from bosh_py.agent.monit_classic import (
    MonitCheck,
    MonitSyntaxError,
    is_classic,
    parse_classic,
    start_order,
)

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


Supervised = ProcessSpec | MonitCheck


def parse_monit(job: str, text: str, where: str = "monit") -> list[Supervised]:
    """The processes one job's monit file declares; errors name the job, the file and,
    for classic files, the line."""
    if is_classic(text):
        try:
            return list(parse_classic(job, text))
        except MonitSyntaxError as e:
            raise AgentActionError(f"Job {job}: {where} {e}") from None
    return list(_parse_yaml(job, text))


def _parse_yaml(job: str, text: str) -> list[ProcessSpec]:
    try:
        data = _load(text) if text.strip() else {}
    except Exception as e:  # yaml.YAMLError / ValueError
        raise AgentActionError(f"Job {job}: monit file is not valid YAML: {e}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise AgentActionError(f"Job {job}: monit file must be a mapping with 'processes' "
                               "(bosh-py's YAML format) or start with 'check process' (monit syntax)")
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


def load_job_processes(jobs_dir: Path) -> list[Supervised]:
    """All processes of all installed jobs (``jobs_dir/<job>/monit``), in job order. Classic
    checks share one name space across jobs, as in monit's one control file, so a name
    defined twice or a ``depends on`` naming nothing is refused here."""
    specs: list[Supervised] = []
    if not jobs_dir.is_dir():
        return specs
    for job_dir in sorted(jobs_dir.iterdir()):
        monit = job_dir / "monit"
        if monit.is_file():
            specs.extend(parse_monit(job_dir.name, monit.read_text(), str(monit)))
    checks = [s for s in specs if isinstance(s, MonitCheck)]
    owner: dict[str, MonitCheck] = {}
    for c in checks:
        if c.name in owner:
            raise AgentActionError(f"Job {c.job}: monit line {c.line}: check process {c.name} is "
                                   f"already defined by job {owner[c.name].job}")
        owner[c.name] = c
    try:
        start_order(checks)
    except ValueError as e:
        raise AgentActionError(str(e)) from None
    return specs


def monit_problem(text: str) -> str | None:
    """What is wrong with a rendered monit file (either format), or None; for the director,
    which refuses a bad file before it touches any VM."""
    try:
        parse_monit("-", text)
    except AgentActionError as e:
        return str(e).removeprefix("Job -: ").removeprefix("monit ")
    return None
