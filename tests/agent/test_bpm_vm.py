"""bpm on a real namespace VM (local CPI, the cached stemcell): the release's bin/bpm runs
the agent bundle's container code, and each check is made from inside the contained
process itself, the way an attacker holding the job would try it.

The VM is set up the way the agent installs jobs (rendered job dirs 0700 under
/var/vcap/data/jobs, linked from /var/vcap/jobs; packages linked from /var/vcap/packages),
over SFTP, without a director: the deploy path is tests/e2e/test_bpm_release.py.
"""

from __future__ import annotations

import base64
import json
import shlex
import time
from pathlib import Path

import paramiko
import pytest

from bosh_py.agent.bundle import build_agent_bundle

pytestmark = pytest.mark.vm

REPO = Path(__file__).resolve().parents[2]
BPM = "/var/vcap/jobs/bpm/bin/bpm"

# Runs as the job's process: writes what it can see and do, then waits for SIGTERM.
PROBE = r'''#!/usr/bin/python3
import json, os, resource, signal, socket, sys, time
job = os.environ.get("PROBE_JOB", "probe")
def attempt(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return "written"
    except OSError as e:
        return "errno %d" % e.errno
def readable(path):
    try:
        open(path, "rb").read(1)
        return True
    except OSError:
        return False
status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
report = {
    "uid": os.getuid(), "gid": os.getgid(), "pid": os.getpid(), "ppid": os.getppid(),
    "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "hostname": socket.gethostname(), "cwd": os.getcwd(),
    "env": {k: os.environ.get(k) for k in ("GREETING", "TMPDIR", "HOME", "PATH")},
    "cap_eff": status["CapEff"].strip(), "cap_bnd": status["CapBnd"].strip(),
    "no_new_privs": status["NoNewPrivs"].strip(),
    "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    "exists": {p: os.path.exists(p) for p in (
        "/var/vcap/data/other", "/var/vcap/store/other", "/var/vcap/jobs/other",
        "/var/vcap/bosh", "/var/vcap/jobs/bpm", "/var/vcap/sys/run/bpm",
        "/var/vcap/packages/probe/bin/probe", "/var/vcap/jobs/%s/config/bpm.yml" % job,
        "/var/vcap/data/shared", "/var/vcap/store/%s" % job)},
    "read": {p: readable(p) for p in ("/var/vcap/jobs/%s/config/bpm.yml" % job, "/etc/shadow")},
    "write": {p: attempt(p) for p in (
        "/probe", "/usr/probe", "/etc/probe", "/var/vcap/jobs/%s/probe" % job,
        "/var/vcap/packages/probe/probe", "/var/vcap/data/%s/probe" % job,
        "/var/vcap/sys/log/%s/probe" % job, "/tmp/probe", "/var/vcap/data/shared/probe",
        "/var/vcap/store/%s/probe" % job)},
}
data = "/var/vcap/data/%s" % job
with open(data + "/report.tmp", "w") as f:
    json.dump(report, f)
os.rename(data + "/report.tmp", data + "/report.json")
print("probe ready", flush=True)
def on_term(signum, frame):
    open(data + "/terminated", "w").write(str(signum))
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
while True:
    time.sleep(1)
'''

HOG = r'''#!/usr/bin/python3
import time
chunks = []
while True:
    chunks.append(bytearray(8 << 20))  # touched: bytearray zero-fills
    time.sleep(0.01)
'''

BINDER = r'''#!/usr/bin/python3
import json, os, socket, time
name = os.environ["BINDER"]
status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
result = {"uid": os.getuid(), "cap_eff": status["CapEff"].strip(), "cap_amb": status["CapAmb"].strip()}
sock = socket.socket()
try:
    sock.bind(("127.0.0.1", 80 if name == "cap" else 81))
    result["bind"] = "bound"
except OSError as e:
    result["bind"] = "errno %d" % e.errno
open("/var/vcap/data/probe/bind-%s.json" % name, "w").write(json.dumps(result))
time.sleep(3600)
'''

PROBE_BPM = """
processes:
- name: probe
  executable: /var/vcap/packages/probe/bin/probe
  args: [--flag]
  env: {GREETING: hello}
  limits: {open_files: 123}
  persistent_disk: true
  additional_volumes:
  - {path: /var/vcap/data/shared, writable: true}
- name: hog
  executable: /var/vcap/packages/probe/bin/hog
  limits: {memory: 48M}
"""


class Vm:
    """Root on the VM over SSH (pinned host key) and SFTP."""

    def __init__(self, vm, key):
        self.client = paramiko.SSHClient()
        self.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        kind, blob = vm.host_key.public.split()[:2]
        self.client.get_host_keys().add(vm.ip, kind, paramiko.PKey.from_type_string(kind, base64.b64decode(blob)))
        self.client.connect(vm.ip, username="root", pkey=key.paramiko_key(), timeout=10,
                            allow_agent=False, look_for_keys=False)
        self.sftp = self.client.open_sftp()

    def run(self, command: str, timeout: float = 60) -> tuple[int, str, str]:
        _stdin, stdout, stderr = self.client.exec_command(command, timeout=timeout)
        out, err = stdout.read().decode(), stderr.read().decode()
        return stdout.channel.recv_exit_status(), out, err

    def ok(self, command: str, timeout: float = 60) -> str:
        code, out, err = self.run(command, timeout)
        assert code == 0, f"{command!r} exited {code}\nstdout: {out}\nstderr: {err}"
        return out

    def put(self, path: str, content: str | bytes, mode: int = 0o644) -> None:
        self.ok(f"mkdir -p {shlex.quote(str(Path(path).parent))}")
        with self.sftp.open(path, "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)
        self.sftp.chmod(path, mode)

    def read_json(self, path: str, timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            code, out, _ = self.run(f"cat {path}")
            if code == 0 and out.strip():
                return json.loads(out)
            assert time.monotonic() < deadline, f"{path} never appeared"
            time.sleep(0.2)

    def install_job(self, job: str, files: dict[str, str]) -> None:
        """As the agent's installer does: a private versioned dir, linked from jobs/."""
        target = f"/var/vcap/data/jobs/{job}/h1"
        for rel, content in files.items():
            self.put(f"{target}/{rel}", content, 0o700 if rel.startswith("bin/") else 0o600)
        self.ok(f"chmod -R go-rwx /var/vcap/data/jobs && mkdir -p /var/vcap/jobs && chmod 700 /var/vcap/jobs "
                f"&& ln -sfn ../data/jobs/{job}/h1 /var/vcap/jobs/{job}")

    def close(self) -> None:
        self.sftp.close()
        self.client.close()


def prepare(conn: Vm, tmp_path: Path) -> None:
    conn.ok("mkdir -p /var/vcap/packages /var/vcap/store /var/vcap/data/sys/log /var/vcap/data/sys/run "
            "&& ln -sfn data/sys /var/vcap/sys")  # the agent's layout (Paths.ensure_layout)
    conn.put("/var/vcap/bosh/agent.pyz", build_agent_bundle(tmp_path / "agent.pyz").read_bytes(), 0o755)
    conn.install_job("bpm", {"bin/bpm": (REPO / "releases/bpm/jobs/bpm/templates/bpm").read_text()})
    for name, script in (("probe", PROBE), ("hog", HOG), ("binder", BINDER)):
        conn.put(f"/var/vcap/data/packages/probe/1/bin/{name}", script, 0o755)
    conn.ok("ln -sfn ../data/packages/probe/1 /var/vcap/packages/probe")
    conn.install_job("other", {"config/secret": "other-secret"})
    conn.ok("mkdir -p /var/vcap/data/other /var/vcap/store/other && echo s > /var/vcap/data/other/secret")


@pytest.fixture
def vm(make_vm, client_key, tmp_path):  # noqa: F811
    """A VM with delegated cgroup v1 memory and pids hierarchies (as a DEA's)."""
    conn = Vm(make_vm(cloud_properties={"cgroups": True, "memory": 512}), client_key)
    try:
        prepare(conn, tmp_path)
        yield conn
    finally:
        conn.close()


@pytest.fixture
def plain_vm(make_vm, client_key, tmp_path):  # noqa: F811
    """A VM without cgroups of its own."""
    conn = Vm(make_vm(), client_key)
    try:
        prepare(conn, tmp_path)
        yield conn
    finally:
        conn.close()


def test_bpm_runs_a_job_process_isolated(vm):
    vm.install_job("probe", {"config/bpm.yml": PROBE_BPM})
    vm.ok(f"{BPM} start probe")
    pid = int(vm.ok("cat /var/vcap/sys/run/bpm/probe/probe.pid"))
    assert int(vm.ok(f"{BPM} pid probe")) == pid
    assert f"probe/probe\trunning\t{pid}" in vm.ok(f"{BPM} list")
    report = vm.read_json("/var/vcap/data/probe/report.json")

    vcap_uid = int(vm.ok("id -u vcap"))
    assert report["uid"] == vcap_uid and report["uid"] != 0
    # its own PID namespace: bpm's init is PID 1, the job 2; the agent, sshd, ... are invisible
    assert report["ppid"] == 1 and report["pids"] == [1, report["pid"]]
    assert report["hostname"] == "probe"
    assert report["env"]["GREETING"] == "hello" and report["env"]["TMPDIR"] == "/var/vcap/data/probe/tmp"
    assert report["cwd"] == "/var/vcap/data/probe"
    assert report["cap_eff"] == "0000000000000000" and report["cap_bnd"] == "0000000000000000"
    assert report["no_new_privs"] == "1"
    assert report["nofile"] == 123
    exists = report["exists"]
    assert not exists["/var/vcap/data/other"] and not exists["/var/vcap/store/other"]
    assert not exists["/var/vcap/jobs/other"] and not exists["/var/vcap/bosh"]
    assert not exists["/var/vcap/jobs/bpm"] and not exists["/var/vcap/sys/run/bpm"]
    assert exists["/var/vcap/packages/probe/bin/probe"] and exists["/var/vcap/jobs/probe/config/bpm.yml"]
    assert report["read"] == {"/var/vcap/jobs/probe/config/bpm.yml": True, "/etc/shadow": False}
    write = report["write"]
    for refused in ("/probe", "/usr/probe", "/etc/probe", "/var/vcap/jobs/probe/probe",
                    "/var/vcap/packages/probe/probe"):
        assert write[refused] == "errno 30", (refused, write)  # EROFS
    for allowed in ("/var/vcap/data/probe/probe", "/var/vcap/sys/log/probe/probe", "/tmp/probe",
                    "/var/vcap/data/shared/probe", "/var/vcap/store/probe/probe"):
        assert write[allowed] == "written", (allowed, write)
    # what it wrote is on the VM's disks, where bpm put its volumes
    assert vm.ok("cat /var/vcap/store/probe/probe /var/vcap/data/shared/probe /var/vcap/data/probe/tmp/probe") == "xxx"
    assert "probe ready" in vm.ok("cat /var/vcap/sys/log/probe/probe.stdout.log")
    # the job's mounts stayed in its own mount namespace
    assert "/var/vcap/data/bpm/roots" not in vm.ok("cat /proc/self/mountinfo")

    vm.ok(f"{BPM} start probe")  # already running: nothing new
    assert int(vm.ok("cat /var/vcap/sys/run/bpm/probe/probe.pid")) == pid

    vm.ok(f"{BPM} stop probe")
    assert vm.ok("cat /var/vcap/data/probe/terminated") == "15"  # SIGTERM reached the job
    assert vm.run("test -e /var/vcap/sys/run/bpm/probe/probe.pid")[0] == 1
    assert vm.run(f"kill -0 {pid}")[0] != 0
    code, _out, err = vm.run(f"{BPM} pid probe")
    assert code == 1 and "not running" in err


def test_memory_hog_is_killed_by_its_limit(vm):
    vm.install_job("probe", {"config/bpm.yml": PROBE_BPM})
    vm.ok(f"{BPM} start probe -p hog")
    group = "/sys/fs/cgroup/memory/bpm-probe-hog"
    assert int(vm.ok(f"cat {group}/memory.limit_in_bytes")) == 48 << 20
    deadline = time.monotonic() + 30
    while vm.run(f"{BPM} pid probe -p hog")[0] == 0:
        assert time.monotonic() < deadline, "the memory hog was never stopped"
        time.sleep(0.2)
    oom = dict(line.split() for line in vm.ok(f"cat {group}/memory.oom_control").splitlines())
    assert int(oom["oom_kill"]) >= 1
    vm.ok(f"{BPM} stop probe -p hog")
    assert vm.run(f"test -d {group}")[0] == 1  # the group goes with the process


def test_bad_config_names_job_file_and_field(vm):
    vm.install_job("probe", {"config/bpm.yml": PROBE_BPM.replace("48M", "lots")})
    code, _out, err = vm.run(f"{BPM} start probe")
    assert code == 1
    assert "job 'probe' config/bpm.yml: processes/1/limits/memory: expected a size" in err
    vm.install_job("probe", {"config/bpm.yml": PROBE_BPM})
    code, _out, err = vm.run(f"{BPM} start probe -p nope")
    assert code == 1 and "no process named 'nope'" in err
    code, _out, err = vm.run(f"{BPM} start missing")
    assert code == 1 and "/var/vcap/jobs/missing/config/bpm.yml not found" in err


def test_failed_exec_is_reported_and_leaves_no_pidfile(vm):
    vm.install_job("probe", {"config/bpm.yml": PROBE_BPM.replace("bin/probe", "bin/absent", 1)})
    code, _out, err = vm.run(f"{BPM} start probe")
    assert code == 1 and "probe/probe: could not start" in err and "No such file" in err
    assert vm.run("test -e /var/vcap/sys/run/bpm/probe/probe.pid")[0] == 1


CAPS_BPM = """
processes:
- name: cap
  executable: /var/vcap/packages/probe/bin/binder
  env: {BINDER: cap}
  capabilities: [NET_BIND_SERVICE]
- name: nocap
  executable: /var/vcap/packages/probe/bin/binder
  env: {BINDER: nocap}
"""


def test_only_listed_capabilities_are_kept(vm):
    vm.install_job("probe", {"config/bpm.yml": CAPS_BPM})
    try:
        vm.ok(f"{BPM} start probe -p cap && {BPM} start probe -p nocap")
        cap = vm.read_json("/var/vcap/data/probe/bind-cap.json")
        nocap = vm.read_json("/var/vcap/data/probe/bind-nocap.json")
        vcap_uid = int(vm.ok("id -u vcap"))
        assert cap["uid"] == nocap["uid"] == vcap_uid
        assert cap["cap_eff"] == cap["cap_amb"] == f"{1 << 10:016x}"  # CAP_NET_BIND_SERVICE only
        assert cap["bind"] == "bound"
        assert nocap["cap_eff"] == "0000000000000000" and nocap["bind"] == "errno 13"  # EACCES
    finally:
        vm.run(f"{BPM} stop probe -p cap; {BPM} stop probe -p nocap")


def test_memory_limit_without_cgroups_is_reported_not_ignored(plain_vm):
    plain_vm.install_job("probe", {"config/bpm.yml": PROBE_BPM.replace(
        "limits: {open_files: 123}", "limits: {open_files: 123, memory: 64M}")})
    code, _out, err = plain_vm.run(f"{BPM} start probe")
    try:
        assert code == 0, err
        assert ("memory limit of probe/probe not enforced: this VM has no writable cgroup v1 memory "
                "hierarchy") in err
        assert plain_vm.read_json("/var/vcap/data/probe/report.json")["nofile"] == 123
    finally:
        plain_vm.ok(f"{BPM} stop probe")


def test_pre_start_hook_runs_in_the_container_first(vm):
    hook = "#!/bin/sh\nid -u > /var/vcap/data/probe/hooked\nexit ${HOOK_EXIT:-0}\n"
    vm.put("/var/vcap/data/packages/probe/1/bin/hook", hook, 0o755)
    config = PROBE_BPM.replace("  env: {GREETING: hello}",
                               "  env: {GREETING: hello, HOOK_EXIT: 3}\n"
                               "  hooks: {pre_start: /var/vcap/packages/probe/bin/hook}")
    vm.install_job("probe", {"config/bpm.yml": config})
    code, _out, err = vm.run(f"{BPM} start probe")
    assert code == 1 and "hooks.pre_start /var/vcap/packages/probe/bin/hook exited 3" in err
    assert vm.run("test -e /var/vcap/sys/run/bpm/probe/probe.pid")[0] == 1
    vm.install_job("probe", {"config/bpm.yml": config.replace("HOOK_EXIT: 3", "HOOK_EXIT: 0")})
    vm.ok(f"{BPM} start probe")
    try:
        assert vm.ok("cat /var/vcap/data/probe/hooked").strip() == vm.ok("id -u vcap").strip()
        assert vm.read_json("/var/vcap/data/probe/report.json")["uid"] == int(vm.ok("id -u vcap"))
    finally:
        vm.ok(f"{BPM} stop probe")


def test_stop_kills_what_ignores_sigterm_after_the_grace_period(vm):
    stubborn = "#!/bin/sh\ntrap '' TERM\nwhile :; do sleep 1; done\n"
    vm.put("/var/vcap/data/packages/probe/1/bin/stubborn", stubborn, 0o755)
    vm.install_job("probe", {"config/bpm.yml": "processes:\n- name: probe\n"
                                               "  executable: /var/vcap/packages/probe/bin/stubborn\n"})
    vm.ok(f"{BPM} start probe")
    pid = int(vm.ok(f"{BPM} pid probe"))
    started = time.monotonic()
    vm.ok(f"{BPM} stop probe", timeout=60)
    took = time.monotonic() - started
    assert 19 <= took < 40, took  # bpm's 20 s grace, then SIGKILL
    assert vm.run(f"kill -0 {pid}")[0] != 0
    assert "stubborn" not in vm.ok("ps -eo args")  # the whole PID namespace went with its init
    assert vm.run("test -e /var/vcap/sys/run/bpm/probe/probe.pid")[0] == 1
