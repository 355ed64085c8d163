"""The dea job's drain script (BOSH's dynamic drain, https://bosh.io/docs/drain/): the
template renders into a bin/drain that runs ``cf_platform.dea.drain`` with the job's config,
and the command, run as the agent runs it, signals a real process, then answers from the
files the DEA writes (cf_platform/dea/evacuation.py). No root needed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from bosh_py.release import JobForRender, link_from_provider, render_instance_jobs
from bosh_py.release.models import JobSpec
from cf_platform.dea.config import DeaConfig
from cf_platform.dea.evacuation import DONE, EVACUATING, NO_ANSWER_MARGIN, EvacuationFiles, drain_step

from tests.harness import wait_until

from .helpers import REPO

JOB = REPO / "releases" / "dea" / "jobs" / "dea"
NATS_JOB = REPO / "releases" / "nats" / "jobs" / "nats"
SRC = REPO / "releases" / "cf_platform" / "src"


def _spec(path: Path) -> JobSpec:
    return JobSpec.model_validate(yaml.safe_load((path / "spec").read_text()))


def render_files(props: dict) -> dict[str, str]:
    spec = _spec(JOB)
    templates = {src: (JOB / "templates" / src).read_text() for src in spec.templates}
    nats = [{"name": "nats", "id": "n0", "index": 0, "az": "z1", "address": "10.244.0.2", "bootstrap": True}]
    link = link_from_provider(_spec(NATS_JOB), {}, "nats", nats, deployment="cf")
    instance = {"deployment": "cf", "name": "dea", "id": "5e1f-uuid", "index": 0, "az": "z1", "bootstrap": True,
                "networks": {"default": {"ip": "10.244.0.12", "default": ["dns", "gateway"]}}}
    rendered = render_instance_jobs([JobForRender("dea", spec, (JOB / "monit").read_text(), templates, props)],
                                    instance, {"dea": {"nats": link}})
    return rendered.files["dea"]


def test_the_job_renders_a_drain_script_and_the_evacuation_timeout():
    files = render_files({"dea": {"evacuation_timeout": 45}})
    script = files["bin/drain"]
    assert script.startswith("#!/bin/bash\n")
    assert ("exec /usr/bin/python3 -m cf_platform.dea.drain --config /var/vcap/jobs/dea/config/dea.json "
            '"$@"') in script
    assert "PYTHONPATH=/var/vcap/packages/cf-platform/lib" in script
    assert DeaConfig.from_dict(json.loads(files["config/dea.json"])).evacuation_timeout == 45
    default = json.loads(render_files({})["config/dea.json"])
    assert DeaConfig.from_dict(default).evacuation_timeout == 120


@pytest.mark.parametrize("running,status,requested_ago,signal_it,answer", [
    (False, None, None, False, 0),              # no DEA: nothing to drain
    (True, None, None, True, -1),               # first call: ask it to evacuate, call me again
    (True, None, 5.0, False, -1),               # asked, no word yet
    (True, EVACUATING, 5.0, False, -1),         # moving instances
    (True, DONE, 5.0, False, 0),                # done: the agent may stop the job
    (True, EVACUATING, 120 + NO_ANSWER_MARGIN + 1, False, 0),   # silent too long: give up the wait
])
def test_drain_steps(running, status, requested_ago, signal_it, answer):
    now = 1_000_000.0
    step = drain_step(running, status, None if requested_ago is None else now - requested_ago, now, 120.0)
    assert (step.signal, step.answer) == (signal_it, answer), step.why


@pytest.fixture
def fake_dea(tmp_path):
    """A process standing in for the DEA's pid: it records each SIGUSR2 in a file."""
    base = tmp_path / "data"
    base.mkdir()
    marks = tmp_path / "usr2"
    code = ("import signal, sys, time\n"
            "def on(*_):\n    open(sys.argv[1], 'a').write('x')\n"
            "signal.signal(signal.SIGUSR2, on)\nprint('ready', flush=True)\n"
            "while True:\n    time.sleep(0.05)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(marks)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    config = tmp_path / "dea.json"
    config.write_text(json.dumps({"ip": "10.244.0.12", "nats": {"servers": ["nats://10.244.0.2:4222"]},
                                  "base_dir": str(base), "evacuation_timeout": 30}))
    try:
        yield proc, EvacuationFiles(base), config, marks
    finally:
        proc.kill()
        proc.wait(5)


def drain(config: Path, *args: str) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "cf_platform.dea.drain", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=30,
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(SRC)})
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().splitlines()[-1]), done.stderr


def test_the_drain_command_signals_once_then_waits_for_done(fake_dea):
    proc, files, config, marks = fake_dea
    assert drain(config, "job_shutdown", "hash_unchanged")[0] == 0     # no pid file: no DEA
    files.write_pid(proc.pid)
    answer, said = drain(config, "job_shutdown", "hash_unchanged")
    assert answer == -1 and "asked the DEA to evacuate" in said
    wait_until(lambda: marks.exists() and marks.read_text() == "x", 5, message="SIGUSR2")
    assert drain(config, "job_check_status", "hash_unchanged")[0] == -1
    files.write_status(proc.pid, EVACUATING, time.time())
    assert drain(config, "job_check_status", "hash_unchanged")[0] == -1
    assert marks.read_text() == "x"                 # signalled once, not on every call
    files.write_status(proc.pid + 1_000_000, DONE, time.time())     # another process's word: ignored
    assert drain(config, "job_check_status", "hash_unchanged")[0] == -1
    files.write_status(proc.pid, DONE, time.time())
    assert drain(config, "job_check_status", "hash_unchanged")[0] == 0


def test_the_drain_command_gives_up_on_a_dea_that_never_answers(fake_dea):
    proc, files, config, _marks = fake_dea
    files.write_pid(proc.pid)
    files.write_request(proc.pid, time.time() - (30 + NO_ANSWER_MARGIN + 1))
    answer, said = drain(config, "job_check_status", "hash_unchanged")
    assert answer == 0 and "did not finish evacuating within 30 s" in said


def test_the_drain_command_ends_when_the_dea_is_gone(fake_dea):
    proc, files, config, _marks = fake_dea
    files.write_pid(proc.pid)
    files.write_request(proc.pid, time.time())
    proc.send_signal(signal.SIGKILL)
    proc.wait(5)
    assert drain(config, "job_check_status", "hash_unchanged")[0] == 0


def test_a_reused_pid_is_never_signalled(fake_dea):
    """The DEA died without removing dea.pid and another process got its pid: SIGUSR2 would
    end that process (its default action), so the drain must see "no DEA" instead."""
    proc, files, config, marks = fake_dea
    files.pid_file.write_text(json.dumps({"pid": proc.pid, "start_time": 1}))   # another process's start
    answer, said = drain(config, "job_shutdown", "hash_unchanged")
    assert answer == 0 and "not running" in said
    time.sleep(0.3)
    assert not marks.exists() and proc.poll() is None


def test_a_bad_config_fails_naming_the_file(tmp_path):
    path = tmp_path / "dea.json"
    path.write_text("{not json")
    done = subprocess.run([sys.executable, "-m", "cf_platform.dea.drain", "--config", str(path)],
                          capture_output=True, text=True, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 1 and str(path) in done.stderr and done.stdout == ""
