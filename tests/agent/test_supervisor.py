"""The supervisor in-process with real child processes: states, restart backoff, stop
escalation from SIGTERM to SIGKILL, adoption of a previous agent's processes."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from pathlib import Path

from bosh_py.agent.paths import Paths
from bosh_py.agent.supervisor import Backoff, ProcessExit, Supervisor

IGNORE_TERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(100)"


def install_job(paths: Paths, job: str, processes: str) -> None:
    job_dir = paths.data_jobs / job / "v1"
    job_dir.mkdir(parents=True)
    (job_dir / "monit").write_text(processes)
    paths.jobs.mkdir(parents=True, exist_ok=True)
    (paths.jobs / job).symlink_to(job_dir)


def make(tmp_path: Path, exits: list) -> Supervisor:
    paths = Paths(tmp_path)
    paths.ensure_layout()
    return Supervisor(paths, exits.append, logging.getLogger("test"), running_after=0.2,
                      stable_after=0.5, backoff=Backoff(initial=0.2, maximum=0.4))


async def until(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def test_states_backoff_and_stop_escalation(tmp_path):
    exits: list[ProcessExit] = []
    sup = make(tmp_path, exits)
    install_job(sup.paths, "j", f"""processes:
- name: stubborn
  executable: {sys.executable}
  args: ["-c", "{IGNORE_TERM}"]
- name: crasher
  executable: /bin/sh
  args: ["-c", "echo boom >&2; exit 7"]
""")

    async def go():
        assert sup.job_state() == "stopped"
        await sup.start()
        await until(lambda: len(exits) >= 3)
        assert all(e.name == "crasher" and e.returncode == 7 for e in exits)
        assert [e.restart_in for e in exits[:3]] == [0.2, 0.4, 0.4]  # doubling, capped
        assert sup.job_state() == "failing"
        states = {s.name: s.state for s in sup.statuses()}
        assert states["stubborn"] == "running" and states["crasher"] == "failing"
        t = time.monotonic()
        await sup.stop(timeout=0.5)
        took = time.monotonic() - t
        assert 0.5 <= took < 2, took  # SIGTERM ignored, SIGKILL after the timeout
        assert sup.job_state() == "stopped" and sup.statuses() == []
    asyncio.run(go())
    log = sup.paths.sys_log / "j"
    assert "up" in (log / "stubborn.stdout.log").read_text()
    assert "boom" in (log / "crasher.stderr.log").read_text()
    assert not (sup.paths.sys_run / "j/stubborn.pid").exists()


def test_a_new_supervisor_adopts_running_processes(tmp_path):
    exits: list[ProcessExit] = []
    install_args = """processes:
- name: sleeper
  executable: /bin/sh
  args: ["-c", "exec sleep 100"]
"""
    first = make(tmp_path, exits)
    install_job(first.paths, "j", install_args)

    async def start_first():
        await first.start()
        await until(lambda: first.job_state() == "running")
        return first.statuses()[0].pid
    pid = asyncio.run(start_first())  # the loop ends: like an agent exiting, sleeper lives on
    try:
        assert os.path.exists(f"/proc/{pid}")
        second = make(tmp_path, exits)

        async def adopt():
            await second.start()
            status = second.statuses()[0]
            assert status.pid == pid and status.state == "running"  # no restart
            await second.stop(timeout=2)
        asyncio.run(adopt())
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
        assert exits == []
    finally:
        try:
            os.killpg(pid, 9)
        except OSError:
            pass
        try:
            os.waitpid(pid, os.WNOHANG)  # it was our child: reap it
        except ChildProcessError:
            pass
