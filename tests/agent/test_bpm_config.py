"""bpm.yml validation and the container plan, without root: every error names the job,
the file and the field; the plan mounts only the job's own directories writable and never
bpm's pidfiles."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from bosh_py.agent.bpm.config import BpmProcess, Limits, parse_bpm_config, parse_size
from bosh_py.agent.bpm.errors import BpmError
from bosh_py.agent.bpm.layout import plan_container

REPO = Path(__file__).resolve().parents[2]

FULL = """
processes:
- name: kv
  executable: /var/vcap/packages/kv/bin/kv
  args: [--port, 8080, true]
  env: {GREETING: hello, DEBUG: true, N: 3}
  workdir: /var/vcap/data/kv/work
  limits: {memory: 3G, open_files: 100, processes: 20}
  persistent_disk: true
  ephemeral_disk: true
  additional_volumes:
  - {path: /var/vcap/data/shared, writable: true, allow_executions: true}
  - {path: /var/vcap/store/other/sock, mount_only: true}
  capabilities: [NET_BIND_SERVICE, CAP_SYS_NICE]
  hooks: {pre_start: /var/vcap/jobs/kv/bin/bpm-pre-start}
- name: worker
  executable: /var/vcap/packages/kv/bin/worker
"""


def test_a_full_config_parses_into_plain_data():
    kv, worker = parse_bpm_config("kv", FULL)
    assert kv.args == ("--port", "8080", "True")
    assert kv.env == (("DEBUG", "true"), ("GREETING", "hello"), ("N", "3"))
    assert kv.limits == Limits(memory=3 << 30, open_files=100, processes=20)
    assert kv.capabilities == ("NET_BIND_SERVICE", "SYS_NICE")
    assert kv.pre_start == "/var/vcap/jobs/kv/bin/bpm-pre-start"
    assert [v.path for v in kv.additional_volumes] == ["/var/vcap/data/shared", "/var/vcap/store/other/sock"]
    assert kv.additional_volumes[1].mount_only and not kv.additional_volumes[1].writable
    assert worker == BpmProcess("kv", "worker", "/var/vcap/packages/kv/bin/worker")


@pytest.mark.parametrize("value, expected", [(1024, 1024), ("512M", 512 << 20), ("1G", 1 << 30),
                                             ("64k", 64 << 10), ("2GB", 2 << 30)])
def test_sizes(value, expected):
    from bosh_py.agent.bpm.config import _Where
    assert parse_size(value, _Where("j")) == expected


def process(extra: str) -> str:
    return "processes:\n- name: kv\n  executable: /bin/true\n" + textwrap.indent(extra, "  ")


@pytest.mark.parametrize("text, message", [
    ("processes: []", "processes: expected a non-empty list"),
    ("processes: {}", "processes: expected a non-empty list"),
    ("process: []", ": unknown key(s) process"),
    ("processes: [", ": not valid YAML"),
    ("processes:\n- executable: /bin/true", "processes/0/name: expected a name"),
    ("processes:\n- name: ../x\n  executable: /bin/true", "processes/0/name: expected a name"),
    ("processes:\n- name: kv", "processes/0/executable: expected an absolute path"),
    ("processes:\n- name: kv\n  executable: bin/kv", "processes/0/executable: expected an absolute path"),
    (process("limits: {memory: lots}"), "processes/0/limits/memory: expected a size such as 512M or 1G, got 'lots'"),
    (process("limits: {memory: 0}"), "processes/0/limits/memory: must be greater than 0"),
    (process("limits: {open_files: -1}"), "processes/0/limits/open_files: expected a positive integer"),
    (process("limits: {processes: many}"), "processes/0/limits/processes: expected a positive integer"),
    (process("limits: {cpu: 1}"), "processes/0/limits: unknown key(s) cpu"),
    (process("env: [A=B]"), "processes/0/env: expected a mapping"),
    (process("env: {1A: x}"), "processes/0/env: invalid variable name '1A'"),
    (process("env: {A: {b: c}}"), "processes/0/env/A: expected a string"),
    (process("args: {a: b}"), "processes/0/args: expected a list of strings"),
    (process("persistent_disk: yes please"), "processes/0/persistent_disk: expected true or false"),
    (process("capabilities: [FLY]"), "processes/0/capabilities/0: unknown capability 'FLY'"),
    (process("additional_volumes: [{path: /etc}]"),
     "processes/0/additional_volumes/0/path: /etc is outside /var/vcap/data"),
    (process("additional_volumes: [{path: /var/vcap/data/../../etc}]"),
     "processes/0/additional_volumes/0/path: '..' is not allowed"),
    (process("additional_volumes: [{path: /var/vcap/data/x, writeable: true}]"),
     "processes/0/additional_volumes/0: unknown key(s) writeable"),
    (process("hooks: {pre_start: relative}"), "processes/0/hooks/pre_start: expected an absolute path"),
    (process("unsafe: {privileged: 1}"), "processes/0/unsafe/privileged: expected true or false"),
    ("processes:\n- {name: a, executable: /a}\n- {name: a, executable: /b}", "processes/1/name: duplicate process 'a'"),
])
def test_errors_name_job_file_and_field(text, message):
    with pytest.raises(BpmError) as error:
        parse_bpm_config("kv", text)
    assert str(error.value).startswith("job 'kv' config/bpm.yml:")
    assert message in str(error.value)


def test_privileged_jobs_may_mount_other_paths():
    (kv,) = parse_bpm_config("kv", process("unsafe: {privileged: true}\nadditional_volumes: [{path: /etc/kv}]"))
    assert kv.privileged and kv.additional_volumes[0].path == "/etc/kv"


def test_plan_writable_only_the_jobs_own_directories():
    kv, _ = parse_bpm_config("kv", FULL)
    plan = plan_container(kv, "/var/vcap/data/jobs/kv/abc")
    mounts = {m.path: m for m in plan.mounts}
    assert mounts["/var/vcap/jobs/kv"].host_path == "/var/vcap/data/jobs/kv/abc"
    assert {p for p, m in mounts.items() if m.writable} == {
        "/var/vcap/data/kv", "/var/vcap/sys/log/kv", "/var/vcap/sys/run/kv", "/tmp", "/var/tmp",
        "/var/vcap/store/kv", "/var/vcap/data/shared"}
    assert not mounts["/var/vcap/jobs/kv"].writable and not mounts["/var/vcap/packages"].writable
    assert not any(p.startswith("/var/vcap/sys/run/bpm") for p in mounts)  # pidfiles stay bpm's
    assert not any(p in ("/var/vcap/data", "/var/vcap/store", "/var/vcap/jobs", "/var/vcap/bosh") for p in mounts)
    assert mounts["/tmp"].host_path == "/var/vcap/data/kv/tmp"
    assert not mounts["/var/vcap/sys/log/kv"].executable and mounts["/var/vcap/data/shared"].executable
    assert not mounts["/var/vcap/store/other/sock"].executable
    paths = [m.path for m in plan.mounts]
    assert all(paths.index(a) < paths.index(b) for a in paths for b in paths if b.startswith(a + "/"))
    assert "/var/vcap/store/other/sock" not in plan.vcap_dirs  # mount_only: never created by bpm
    assert "/var/vcap/data/shared" in plan.vcap_dirs and "/var/vcap/store/kv" in plan.vcap_dirs
    env = dict(plan.env)
    assert env["TMPDIR"] == "/var/vcap/data/kv/tmp" and env["GREETING"] == "hello"
    assert plan.workdir == "/var/vcap/data/kv/work"


def test_no_store_without_persistent_disk():
    (kv,) = parse_bpm_config("kv", process(""))
    plan = plan_container(kv, "/x")
    assert not any(m.path.startswith("/var/vcap/store") for m in plan.mounts)
    assert plan.workdir == "/var/vcap/data/kv"


def test_bundle_carries_bpm_and_its_cli_starts_from_it(tmp_path):
    """bin/bpm runs the agent bundle: the bundle must hold the bpm package and the CLI must
    answer from it (here: a clear error for a job that is not installed)."""
    from bosh_py.agent.bundle import build_agent_bundle
    bundle = build_agent_bundle(tmp_path / "agent.pyz")
    done = subprocess.run(
        ["sh", "releases/bpm/jobs/bpm/templates/bpm", "pid", "no-such-job"], capture_output=True, text=True, check=False,
        env={"BPM_AGENT_BUNDLE": str(bundle), "PATH": "/usr/bin:/bin"},
        cwd=REPO)
    assert done.returncode == 1
    assert "job 'no-such-job': /var/vcap/jobs/no-such-job/config/bpm.yml not found" in done.stderr
