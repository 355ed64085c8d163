"""Watch an instance until its jobs run: sleep the watch range's low end, then poll
get_state until "running" or the high end. A failure names the instance, the processes
not running, the jobs and the last lines of their logs, so a failing canary explains itself."""

from __future__ import annotations

import asyncio
import tarfile
import time
from pathlib import Path

from bosh_py.director.manifest_input import stored_variables
from bosh_py.director.services import Director
from bosh_py.director.steps.change import InstanceUpdateError
from bosh_py.director.steps.timing import StepTimes
from bosh_py.errors import BoshPyError
from bosh_py.manifest.diff import secret_values as variable_leaves

POLL_INTERVAL = 0.25  # seconds between get_state calls
TAIL_LINES = 5  # per log file, in the error of an instance that does not run
TAIL_FILES = 3  # the most recently written log files
TAIL_BYTES = 4096  # read from the end of each
MIN_SECRET = 4  # shorter variable values are not scrubbed (they would blank common words)


async def wait_until_running(director: Director, agent_id: str, watch: tuple[int, int], name: str,
                             deployment: str | None = None, times: StepTimes | None = None) -> None:
    """``deployment``: given, a failure quotes the last lines of the job logs with that
    deployment's stored variables scrubbed out; without it, no log lines are quoted.
    ``times`` counts the get_state polls."""
    low, high = watch
    started = time.monotonic()
    await asyncio.sleep(low / 1000)
    agent = director.agent(agent_id)
    while True:
        state = await agent.get_state()
        if times is not None:
            times.polls += 1
        if state.get("job_state") == "running":
            return
        if (time.monotonic() - started) * 1000 >= high:
            raise InstanceUpdateError(await not_running_message(director, agent_id, name, state, deployment))
        await asyncio.sleep(POLL_INTERVAL)


async def not_running_message(director: Director, agent_id: str, name: str, state: dict,
                              deployment: str | None) -> str:
    failing = [f"{p.get('name')} ({p.get('state')})" for p in state.get("processes") or []
               if p.get("state") != "running"]
    detail = f": {', '.join(failing)}" if failing else ""
    jobs = [t["name"] for t in (state.get("job") or {}).get("templates") or [] if t.get("name")]
    tail = scrub(await log_tail(director, agent_id), secret_values(director, deployment)) if deployment else ""
    return (f"'{name}' is not running after update (job state '{state.get('job_state')}'){detail}. "
            f"Review logs for failed jobs: {', '.join(jobs) or 'all'} (`bosh-py logs {name}`)"
            + (f"\nLast lines of its logs:\n{tail}" if tail else ""))


async def log_tail(director: Director, agent_id: str) -> str:
    """The last lines of the instance's most recent job logs; empty if they cannot be had
    (the error must still be raised with what is known)."""
    try:
        value = await director.agent(agent_id).fetch_logs("job", None)
        blob_id = str(value["blobstore_id"])
    except (BoshPyError, KeyError, TypeError):
        return ""
    try:
        path = await asyncio.to_thread(director.blobstore.get_path, blob_id)  # S3: may download
        return await asyncio.to_thread(_tail_of_archive, path)
    except (OSError, tarfile.TarError, BoshPyError):
        return ""
    finally:
        director.blobstore.delete(blob_id)


def _tail_of_archive(path: Path) -> str:
    with tarfile.open(path, mode="r:gz") as archive:
        members = sorted((m for m in archive.getmembers() if m.isfile() and m.size),
                         key=lambda m: m.mtime, reverse=True)[:TAIL_FILES]
        parts = []
        for member in sorted(members, key=lambda m: m.name):
            stream = archive.extractfile(member)
            if stream is None:
                continue
            stream.seek(max(0, member.size - TAIL_BYTES))  # a log may be large: read only its end
            lines = stream.read().decode(errors="replace").splitlines()[-TAIL_LINES:]
            parts.append("\n".join([f"==> {member.name} <=="] + [f"  {line}" for line in lines]))
        return "\n".join(parts)


def secret_values(director: Director, deployment: str) -> set[str]:
    """Every string the deployment's stored variables hold (passwords, keys, certificates),
    and each line of a multi-line one (a log may quote a certificate's lines apart)."""
    found: set[str] = set()
    for value in variable_leaves(stored_variables(director, deployment)):
        found.update(text for text in (value, *value.splitlines()) if len(text) >= MIN_SECRET)
    return found


def scrub(text: str, secrets: set[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):  # a certificate before its lines
        text = text.replace(secret, "((redacted))")
    return text
