"""`bosh-py logs --follow` on real namespace VMs: the testrel web job (Python's http.server,
which writes one access line per request to its stderr log) on two instances; the test makes
requests and reads them back from the live stream, prefixed by instance, through the real
CLI; Ctrl-C (SIGINT) ends it, the VMs' tails end with it and the one-time key is revoked."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest

from bosh_py.cli.logs_follow import tail_command
from bosh_py.errors import BoshPyError
from tests.e2e.manifests import web_manifest, write
from tests.harness import BIN, LocalDirector, director_with_stemcell, wait_until

DEPLOYMENT = "follow"


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    with director_with_stemcell(tmp_path_factory.mktemp("bosh-py-logs-follow")) as local:
        local.upload_testrel()
        local.cli("deploy", "-n", write(local.root, web_manifest(DEPLOYMENT, instances=2, disk=False)))
        yield local


class Follower:
    """A running `bosh-py logs --follow`, its output lines gathered by a reader thread."""

    def __init__(self, local: LocalDirector, *args: str) -> None:
        self.proc = subprocess.Popen([str(BIN / "bosh-py"), "logs", "-d", DEPLOYMENT, "--follow", *args],
                                     env=local.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def drain(self) -> list[str]:
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return self.seen

    def interrupt(self) -> tuple[int, str]:
        """Ctrl-C, as a terminal sends it; (exit code, stderr)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError("`bosh-py logs --follow` did not end within 20 s of Ctrl-C") from None
        assert self.proc.stderr is not None
        return self.proc.returncode, self.proc.stderr.read()


def request(ip: str, path: str) -> None:
    try:
        urllib.request.urlopen(f"http://{ip}:8080/{path}", timeout=2).close()
    except urllib.error.HTTPError:
        pass  # a 404 is logged all the same
    except OSError:
        pass  # not answering yet; the caller polls


def instances(local: LocalDirector) -> list[dict]:
    return sorted(local.json("instances", "-d", DEPLOYMENT), key=lambda r: r["index"])  # type: ignore[arg-type]


def wait_for_marker(follower: Follower, ip: str, marker: str, timeout: float = 60) -> str:
    """Request ``/marker`` on ``ip`` every half second until its access line shows up."""
    def shown() -> str | None:
        request(ip, marker)
        return next((line for line in follower.drain() if marker in line), None)
    return wait_until(shown, timeout, interval=0.5, message=f"{marker} from {ip} in `logs --follow`")


def tails_left(local: LocalDirector, instance: str) -> str:
    return local.cli("ssh", "-d", DEPLOYMENT, instance, "-c", "pgrep -a tail || echo none").stdout


@pytest.mark.vm
@pytest.mark.slow
def test_follow_streams_every_instance_prefixed_and_ctrl_c_ends_it_everywhere(deployed):
    rows = instances(deployed)
    follower = Follower(deployed)
    try:
        for row in rows:
            marker = f"follow-marker-{uuid.uuid4().hex[:8]}"
            line = wait_for_marker(follower, row["ips"][0], marker)
            assert line.startswith(f"web/{row['id']}: "), line
            assert f"GET /{marker}" in line
    finally:
        status, stderr = follower.interrupt()
    assert status == 0, stderr
    events = deployed.json("events", "-d", DEPLOYMENT)  # before `ssh -c` below adds its own
    revoked = {e["object_name"] for e in events if e["action"] == "cleanup ssh"}  # type: ignore[union-attr]
    assert {f"web/{row['id']}" for row in rows} <= revoked
    for name in (f"web/{row['id']}" for row in rows):  # the VMs' tails ended with their sessions
        wait_until(lambda name=name: "tail -n" not in tails_left(deployed, name), 15, interval=1,
                   message=f"no tail left on {name}")


@pytest.mark.vm
@pytest.mark.slow
def test_follow_one_instance_and_one_job_shows_only_those(deployed):
    first, second = instances(deployed)
    follower = Follower(deployed, "web/0", "--job", "web", "--num", "0")
    try:
        marker = f"only-first-{uuid.uuid4().hex[:8]}"
        other = f"not-shown-{uuid.uuid4().hex[:8]}"
        request(second["ips"][0], other)
        line = wait_for_marker(follower, first["ips"][0], marker)
        assert line.startswith(f"web/{first['id']}: ")
        time.sleep(1)
        assert not [seen for seen in follower.drain() if other in seen or seen.startswith(f"web/{second['id']}")]
    finally:
        status, stderr = follower.interrupt()
    assert status == 0, stderr


@pytest.mark.vm
@pytest.mark.slow
def test_follow_a_job_without_logs_fails_naming_it(deployed):
    result = deployed.cli("logs", "-d", DEPLOYMENT, "web/0", "--follow", "--job", "nosuchjob", check=False,
                          timeout=120)
    assert result.returncode == 1
    assert "no *.log files of jobs nosuchjob" in result.stdout + result.stderr


@pytest.mark.vm
@pytest.mark.slow
def test_follow_refuses_a_bad_job_name_before_touching_a_vm(deployed):
    result = deployed.cli("logs", "-d", DEPLOYMENT, "--follow", "--job", "web;reboot", check=False)
    assert result.returncode == 1 and "--job 'web;reboot': not a job name" in result.stdout + result.stderr


def test_tail_command_follows_the_named_jobs_logs_only():
    assert "find . -type f -name '*.log'" in tail_command((), 10)
    command = tail_command(("web", "nats.v2"), 50)
    assert "find web nats.v2 -type f" in command and command.endswith("exec tail -n 50 -F $files")
    assert "no *.log files of jobs web, nats.v2 under /var/vcap/sys/log" in command


@pytest.mark.parametrize("jobs, lines, message", [
    (("web;reboot",), 10, "--job 'web;reboot': not a job name"),
    (("../etc",), 10, "--job '../etc': not a job name"),
    (("$(id)",), 10, "--job '$(id)': not a job name"),
    (("web",), -1, "--num -1: must be 0 or more"),
])
def test_tail_command_refuses_what_the_shell_would_read_as_code(jobs, lines, message):
    with pytest.raises(BoshPyError, match=re.escape(message)):
        tail_command(jobs, lines)
