"""Classic monit checks supervised with real bash ctl scripts: the pidfile is the truth,
start/stop programs run (monit's argv and environment), a vanished process is started
again, ``depends on`` orders starts and stops, timeouts are enforced, ``as uid`` runs as
that user, a new agent adopts what its pidfile names. Every process a ctl script starts
is recorded and killed by PID at the end."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest

from bosh_py.agent.errors import AgentActionError
from bosh_py.agent.paths import Paths
from bosh_py.agent.procfs import pid_alive
from bosh_py.agent.supervisor import Backoff, ProcessExit, Supervisor

# A ctl script as the BOSH docs show one: start backgrounds the server and writes the
# pidfile; stop kills by pidfile. Every server PID is also appended to all.pids (cleanup).
CTL = """#!/bin/bash
RUN_DIR={root}/var/vcap/sys/run/{job}
PIDFILE=$RUN_DIR/{name}.pid
case $1 in
  start)
    echo "start {name} $(date +%s.%N) args=$# [$2] PATH=$PATH HOME=${{HOME:-unset}} MONIT_SERVICE=$MONIT_SERVICE" >> {root}/events
    mkdir -p $RUN_DIR
    {start_body}
    ;;
  stop)
    echo "stop {name} $(date +%s.%N)" >> {root}/events
    {stop_body}
    ;;
esac
"""
START = "sleep 1000 &\n    echo $! >> {root}/all.pids\n    echo $! > $PIDFILE"
STOP = "kill $(cat $PIDFILE)\n    rm -f $PIDFILE"


def monit(job: str, name: str, *, extra: str = "", start_opts: str = "", stop_opts: str = "",
          arg: str = "") -> str:
    ctl = f"/var/vcap/jobs/{job}/bin/{name}_ctl"
    return (f"check process {name}\n  with pidfile /var/vcap/sys/run/{job}/{name}.pid\n"
            f"  start program \"{{root}}{ctl} start{arg}\" {start_opts}\n"
            f"  stop program \"{{root}}{ctl} stop\" {stop_opts}\n  group vcap\n{extra}")


class Env:
    def __init__(self, root: Path):
        self.root = root
        self.paths = Paths(root)
        self.paths.ensure_layout()
        self.exits: list[ProcessExit] = []

    def install(self, job: str, monit_text: str, ctls: dict[str, tuple[str, str]]) -> None:
        job_dir = self.paths.data_jobs / job / "v1"
        (job_dir / "bin").mkdir(parents=True)
        (job_dir / "monit").write_text(monit_text.replace("{root}", str(self.root)))
        for name, (start_body, stop_body) in ctls.items():
            script = job_dir / "bin" / f"{name}_ctl"
            script.write_text(CTL.format(root=self.root, job=job, name=name,
                                         start_body=start_body.format(root=self.root),
                                         stop_body=stop_body))
            script.chmod(0o755)
        (self.paths.jobs / job).symlink_to(job_dir)

    def supervisor(self) -> Supervisor:
        return Supervisor(self.paths, self.exits.append, logging.getLogger("test"), running_after=0.2,
                          stable_after=0.5, backoff=Backoff(initial=0.2, maximum=0.4))

    def pid(self, job: str, name: str) -> int:
        return int((self.paths.sys_run / job / f"{name}.pid").read_text())

    def events(self) -> list[str]:
        path = self.root / "events"
        return path.read_text().splitlines() if path.exists() else []

    def kill_all(self) -> None:
        path = self.root / "all.pids"
        for line in path.read_text().split() if path.exists() else []:
            try:
                os.kill(int(line), signal.SIGKILL)
            except OSError:
                pass


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path)
    yield e
    e.kill_all()


async def until(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


def test_pidfile_is_the_truth_restart_and_stop(env):
    env.install("kv", monit("kv", "kv", arg=" 'one arg'"), {"kv": (START, STOP)})
    sup = env.supervisor()

    async def go():
        await sup.start()
        await until(lambda: sup.job_state() == "running")
        [status] = sup.statuses()
        first = env.pid("kv", "kv")
        assert (status.job, status.name, status.pid, status.state) == ("kv", "kv", first, "running")
        os.kill(first, signal.SIGKILL)  # the pidfile's process dies: the start program runs again
        await until(lambda: env.exits)
        assert (env.exits[0].job, env.exits[0].name, env.exits[0].pid) == ("kv", "kv", first)
        await until(lambda: sup.job_state() == "running" and sup.statuses()[0].pid not in (None, first))
        second = env.pid("kv", "kv")
        assert second != first and pid_alive(second)
        await sup.stop()
        assert not pid_alive(second) and sup.job_state() == "stopped"
    asyncio.run(go())
    events = env.events()
    assert [e.split()[0] for e in events] == ["start", "start", "stop"]
    # monit's argv (no shell; a quoted argument stays one) and monit's minimal environment
    assert "args=2 [one arg] PATH=/bin:/usr/bin:/sbin:/usr/sbin HOME=unset MONIT_SERVICE=kv" in events[0]
    assert not (env.paths.sys_run / "kv/kv.pid").exists()  # the stop program removed it
    assert "start: " in (env.paths.sys_log / "kv/kv.monit.log").read_text()


def test_a_ctl_script_that_execs_the_server_becomes_it(env):
    env.install("fg", monit("fg", "fg"), {"fg": ("echo $$ > $PIDFILE\n    echo $$ >> {root}/all.pids\n    exec sleep 1000", STOP)})
    sup = env.supervisor()

    async def go():
        await sup.start()
        await until(lambda: sup.job_state() == "running")
        pid = env.pid("fg", "fg")
        await asyncio.sleep(0.5)
        assert sup.statuses()[0].pid == pid and pid_alive(pid) and env.exits == []
        await sup.stop()
        assert not pid_alive(pid)
    asyncio.run(go())


def test_depends_on_orders_starts_and_reverse_stops(env):
    env.install("web", monit("web", "web", extra="  depends on db\n"), {"web": (START, STOP)})
    # db takes a while to come up: web's start program must wait for it
    env.install("db", monit("db", "db"), {"db": ("sleep 0.6\n    " + START, STOP)})
    sup = env.supervisor()

    async def go():
        await sup.start()
        await until(lambda: sup.job_state() == "running")
        await sup.stop()
    asyncio.run(go())
    order = [" ".join(e.split()[:2]) for e in env.events()]
    assert order == ["start db", "start web", "stop web", "stop db"], order
    db_up = float(env.events()[0].split()[2]) + 0.6
    assert float(env.events()[1].split()[2]) >= db_up  # web started after db was up


def test_start_timeout_kills_the_start_program_and_retries(env):
    # writes no pidfile, leaves a child behind: both must go when the timeout passes
    hung = "sleep 1000 &\n    echo $! >> {root}/all.pids\n    echo $! > {root}/hung.pid\n    sleep 1000"
    env.install("slow", monit("slow", "slow", start_opts="with timeout 1 seconds"), {"slow": (hung, STOP)})
    sup = env.supervisor()

    async def go():
        t = time.monotonic()
        await sup.start()
        await until(lambda: env.exits, timeout=5)
        took = time.monotonic() - t
        assert 1.0 <= took < 3, took
        assert sup.job_state() == "failing" and sup.statuses()[0].pid is None
        child = int((env.root / "hung.pid").read_text())
        await until(lambda: not pid_alive(child), timeout=2)
        await until(lambda: len(env.exits) >= 2, timeout=5)  # retried with backoff
        await sup.stop()
    asyncio.run(go())
    assert [e.split()[0] for e in env.events()].count("start") >= 2


def test_a_failing_start_program_is_reported_at_once(env):
    env.install("bad", monit("bad", "bad"), {"bad": ("echo cannot >&2; exit 3", STOP)})
    sup = env.supervisor()

    async def go():
        await sup.start()
        await until(lambda: env.exits, timeout=3)
        assert env.exits[0].returncode == 3 and sup.job_state() == "failing"
        await sup.stop()
    asyncio.run(go())
    assert "cannot" in (env.paths.sys_log / "bad/bad.monit.log").read_text()


def test_stop_timeout_is_enforced(env):
    # the stop program does nothing and the server ignores SIGTERM: killed after 1 s
    stubborn = "(trap '' TERM; exec sleep 1000) &\n    echo $! >> {root}/all.pids\n    echo $! > $PIDFILE"
    env.install("st", monit("st", "st", stop_opts="with timeout 1 seconds"), {"st": (stubborn, "sleep 1000")})
    sup = env.supervisor()

    async def go():
        await sup.start()
        await until(lambda: sup.job_state() == "running")
        pid = env.pid("st", "st")
        t = time.monotonic()
        await sup.stop(timeout=30)
        took = time.monotonic() - t
        assert 1.0 <= took < 3, took
        assert not pid_alive(pid)
    asyncio.run(go())


def test_a_new_supervisor_adopts_by_pidfile_and_stops_leftovers(env):
    env.install("kv", monit("kv", "kv"), {"kv": (START, STOP)})

    async def first():
        sup = env.supervisor()
        await sup.start()
        await until(lambda: sup.job_state() == "running")
    asyncio.run(first())  # the loop ends, like an agent exiting: the server lives on
    pid = env.pid("kv", "kv")
    assert pid_alive(pid)

    async def second():
        sup = env.supervisor()
        await sup.start()
        [status] = sup.statuses()
        assert status.pid == pid and status.state == "running"  # adopted, not started again
        await asyncio.sleep(0.3)
        await sup.stop()
    asyncio.run(second())
    assert not pid_alive(pid)
    assert [e.split()[0] for e in env.events()] == ["start", "stop"]

    asyncio.run(first())
    pid = env.pid("kv", "kv")

    async def third():  # an agent that never started the jobs still stops them
        await env.supervisor().stop()
    asyncio.run(third())
    assert not pid_alive(pid)


def test_as_uid_and_gid():
    # tmp_path's parents are private to root: this VM root must be reachable by "nobody"
    root = Path(tempfile.mkdtemp(prefix="bosh-py-monit-uid-"))
    try:
        root.chmod(0o755)
        e = Env(root)
        (e.paths.data / "sys/run").chmod(0o777)
        pidfile = root / "var/vcap/sys/run/u.pid"
        text = (f"check process u with pidfile /var/vcap/sys/run/u.pid\n"
                f"  start program \"/bin/sh -c 'sleep 1000 & echo $! > {pidfile}'\" as uid nobody and gid nogroup\n")
        (e.paths.data_jobs / "u").mkdir(parents=True)
        (e.paths.data_jobs / "u/monit").write_text(text)
        (e.paths.jobs / "u").symlink_to(e.paths.data_jobs / "u")
        sup = e.supervisor()

        async def go():
            await sup.start()
            await until(lambda: sup.job_state() == "running")
            pid = int(pidfile.read_text())
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                uid = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1]
                gid = next(line for line in status.splitlines() if line.startswith("Gid:")).split()[1]
                assert (uid, gid) == ("65534", "65534")
            finally:
                await sup.stop()  # no stop program: SIGTERM to the pidfile's process
            assert not pid_alive(pid)
        asyncio.run(go())
    finally:
        shutil.rmtree(root)


def test_an_unknown_user_fails_before_anything_starts(env):
    env.install("a", monit("a", "a"), {"a": (START, STOP)})
    env.install("b", monit("b", "b", start_opts="as uid no-such-user"), {"b": (START, STOP)})
    sup = env.supervisor()

    async def go():
        with pytest.raises(AgentActionError, match="Job b: monit line 1: check process b: "
                                                    "user 'no-such-user' does not exist on this VM"):
            await sup.start()
    asyncio.run(go())
    assert env.events() == []


def test_classic_and_yaml_jobs_side_by_side(env):
    env.install("kv", monit("kv", "kv"), {"kv": (START, STOP)})
    env.install("web", "processes:\n- name: web\n  executable: /bin/sleep\n  args: ['1000']\n", {})
    sup = env.supervisor()

    async def go():
        await sup.start()
        await until(lambda: sup.job_state() == "running")
        assert sorted((s.job, s.name, s.state) for s in sup.statuses()) == [
            ("kv", "kv", "running"), ("web", "web", "running")]
        pids = [s.pid for s in sup.statuses()]
        await sup.stop()
        assert not any(pid_alive(p) for p in pids)
    asyncio.run(go())


def test_a_stop_program_that_cannot_run_falls_back_to_sigterm(env):
    env.install("gone", monit("gone", "gone", stop_opts="with timeout 20 seconds"), {"gone": (START, STOP)})
    sup = env.supervisor()

    async def go():
        await sup.start()
        await until(lambda: sup.job_state() == "running")
        pid = env.pid("gone", "gone")
        (env.paths.jobs / "gone/bin/gone_ctl").unlink()  # e.g. the job was removed
        t = time.monotonic()
        await sup.stop()
        assert time.monotonic() - t < 3 and not pid_alive(pid)
    asyncio.run(go())


def test_a_restarting_dependency_stops_and_restarts_its_dependents(env):
    env.install("web", monit("web", "web", extra="  depends on db\n"), {"web": (START, STOP)})
    env.install("db", monit("db", "db"), {"db": (START, STOP)})
    sup = env.supervisor()

    async def go():
        await sup.start()
        await until(lambda: sup.job_state() == "running")
        os.kill(env.pid("db", "db"), signal.SIGKILL)
        await until(lambda: len(env.events()) >= 5 and sup.job_state() == "running")
        await sup.stop()
    asyncio.run(go())
    order = [" ".join(e.split()[:2]) for e in env.events()]
    assert order == ["start db", "start web", "stop web", "start db", "start web", "stop web", "stop db"], order
    assert [e.name for e in env.exits] == ["db"]  # web was stopped on purpose, not crashed


def test_a_pidfile_naming_the_agent_never_gets_it_signalled(env, caplog):
    """A job may write its own pidfile (as vcap): naming the agent (here: this test
    process) or PID 1 must not make the agent kill it on stop."""
    env.install("evil", monit("evil", "evil"),
                {"evil": (f"echo {os.getpid()} > $PIDFILE", "true")})
    sup = env.supervisor()

    async def go():
        await sup.start()
        await until(lambda: sup.job_state() == "running")
        assert sup.statuses()[0].pid == os.getpid()
        t = time.monotonic()
        await sup.stop()
        assert time.monotonic() - t < 3
    with caplog.at_level(logging.ERROR):
        asyncio.run(go())
    assert "names pid" in caplog.text and "not stopping it" in caplog.text
    (env.paths.sys_run / "evil/evil.pid").write_text("1\n")
    asyncio.run(env.supervisor().stop())  # a leftover naming PID 1: left alone too


def test_programs_see_only_monits_environment(env, monkeypatch):
    """Nothing of the agent's environment (it may hold credentials) reaches a program."""
    monkeypatch.setenv("AGENT_SECRET", "s3cr3t-value")
    env.install("envy", monit("envy", "envy"), {"envy": ("env > {root}/env.txt\n    " + START, STOP)})
    sup = env.supervisor()

    async def go():
        await sup.start()
        await until(lambda: sup.job_state() == "running")
        await sup.stop()
    asyncio.run(go())
    seen = dict(line.split("=", 1) for line in (env.root / "env.txt").read_text().splitlines())
    assert "s3cr3t-value" not in (env.root / "env.txt").read_text()
    assert set(seen) - {"PWD", "SHLVL", "_"} == {"PATH", "MONIT_SERVICE", "MONIT_EVENT", "MONIT_DESCRIPTION",
                                                  "MONIT_HOST", "MONIT_DATE"}
    assert seen["PATH"] == "/bin:/usr/bin:/sbin:/usr/sbin" and seen["MONIT_EVENT"] == "Start"
    assert seen["PWD"] == "/"


def test_a_pidfile_older_than_its_process_is_stale(env):
    """After a VM reboot a pidfile may name a PID that now belongs to something else: a
    pidfile written before that process started is not believed, so the job is started
    and the stranger is never signalled."""
    import subprocess
    stranger = subprocess.Popen(["sleep", "1000"])
    try:
        env.install("kv", monit("kv", "kv"), {"kv": (START, STOP)})
        pidfile = env.paths.sys_run / "kv/kv.pid"
        pidfile.parent.mkdir(parents=True, exist_ok=True)
        pidfile.write_text(f"{stranger.pid}\n")
        os.utime(pidfile, (time.time() - 3600, time.time() - 3600))  # written before the reboot
        sup = env.supervisor()

        async def go():
            await sup.start()
            await until(lambda: sup.job_state() == "running")
            assert sup.statuses()[0].pid != stranger.pid
            await sup.stop()
        asyncio.run(go())
        assert [e.split()[0] for e in env.events()] == ["start", "stop"]
        assert stranger.poll() is None  # untouched
    finally:
        stranger.kill()
        stranger.wait()
