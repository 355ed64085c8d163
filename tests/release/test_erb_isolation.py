"""ERB is Ruby: what a template may not do on the director host, and its time and memory limits.

Rendered through the director's isolated worker (``render_isolated``), as a deploy does.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bosh_py.director.private_files import private_dir
from bosh_py.director.secrets import load_or_create_secrets
from bosh_py.release import RenderError, render_instance_jobs
from bosh_py.release.render import RenderedInstance

from .erb_support import INSTANCE, conf, error, kv_job, render

PREFIX = "Unable to render templates: job 'kv' template 'kv.conf.erb'"
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the director runs as root; this checks the drop to nobody")


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory any user may enter (pytest's own tmp dirs are 0700 for root)."""
    path = Path(tempfile.mkdtemp(prefix="bosh-py-erb-", dir="/tmp"))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_endless_template_is_stopped_at_the_time_limit_naming_its_line():
    started = time.monotonic()
    ok, looping, after = render([kv_job("<%= Process.pid %>")], [kv_job("a\nb\n<% loop { } %>")],
                                [kv_job("never reached")], seconds=1)
    assert time.monotonic() - started < 8
    assert isinstance(ok, RenderedInstance)
    assert str(looping) == f"{PREFIX} line 3: rendering took longer than 1 s"
    assert isinstance(after, RenderError) and "not rendered" in str(after)
    assert _gone(int(ok.files["kv"]["config/kv.conf"]))  # the job's Ruby process was ended


def test_template_that_swallows_the_alarm_is_killed():
    started = time.monotonic()
    message = error("<% loop { begin; sleep 10; rescue Exception; end } %>", seconds=1)
    assert time.monotonic() - started < 10
    assert message == f"{PREFIX}: rendering took longer than 1 s"


def test_memory_hungry_template_is_stopped():
    assert error("<% s = 'x' * (2 ** 30) %>") == f"{PREFIX}: rendering used more than 256 MiB"
    assert error("<% a = []; loop { a << 'y' * 1_000_000 } %>") == f"{PREFIX}: rendering used more than 256 MiB"
    assert conf("<%= ('x' * 50_000_000).size %>") == "50000000"  # well inside the limit


@as_root
def test_template_runs_as_nobody_and_cannot_read_the_directors_secrets(open_dir):
    data = private_dir(open_dir / "director-data")
    secrets = load_or_create_secrets(data / "director_secrets.json")
    path = data / "director_secrets.json"
    assert conf("<%= Process.uid %>:<%= Process.gid %>:<%= Process.groups.inspect %>") == "65534:65534:[]"
    message = error(f"<%= File.read({json.dumps(str(path))}) %>")
    assert message.startswith(f"{PREFIX} line 1: Permission denied")
    assert secrets.admin_password not in message
    os.chmod(data, 0o755)  # even with the way open, the 0600 file stays closed
    assert "Permission denied" in error(f"<%= File.read({json.dumps(str(path))}) %>")


def test_template_cannot_reach_the_network():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        message = error(f"<% require 'socket' %><%= TCPSocket.new('127.0.0.1', {port}) %>")
        assert message == f"{PREFIX} line 1: Network is unreachable - connect(2) for \"127.0.0.1\" port {port}"
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing ever connected
    assert conf("<% require 'socket' %><%= Socket.ip_address_list.map(&:ip_address).sort.inspect %>") == "[]"


def test_template_sees_no_secret_from_the_directors_environment(monkeypatch):
    monkeypatch.setenv("BOSH_PY_ADMIN_PASSWORD", "env-secret-123")
    assert conf("<%= ENV.keys.sort.join(',') %>") == "LANG,PATH"
    in_process = render_instance_jobs([kv_job("<%= ENV.keys.sort.join(',') %>")], INSTANCE, {})
    assert in_process.files["kv"]["config/kv.conf"] == "LANG,PATH"


def test_template_cannot_start_processes_or_write_files(open_dir):
    # Ruby may retry a fork that failed with EAGAIN until the time limit: no process either way
    assert error("<%= `id` %>", seconds=1) in (f"{PREFIX} line 1: Resource temporarily unavailable - id",
                                              f"{PREFIX} line 1: rendering took longer than 1 s")
    assert error("\n<%= fork { } %>", seconds=1) in (f"{PREFIX} line 2: Resource temporarily unavailable - fork(2)",
                                                     f"{PREFIX} line 2: rendering took longer than 1 s")
    os.chmod(open_dir, 0o1777)
    target = open_dir / "dropped"
    message = error(f"<% File.write({json.dumps(str(target))}, 'payload') %>")
    assert message.startswith(f"{PREFIX} line 1: File too large")
    assert not target.exists() or target.read_bytes() == b""


def test_each_job_has_its_own_interpreter():
    """A template can change the Ruby it runs in; a job of another release on the same
    instance must not see that."""
    hijack = ("<% BoshPyErb::Context.class_eval { def p(*_args); 'hijacked'; end } %>"
              "<%= p('kv.port') %>")
    [result] = render([kv_job(hijack), kv_job("<%= p('kv.port') %>", name="other")])
    assert isinstance(result, RenderedInstance), result
    assert result.files["kv"]["config/kv.conf"] == "hijacked"
    assert result.files["other"]["config/kv.conf"] == "7000"


def test_the_rendering_processes_are_gone_afterwards():
    [result] = render([kv_job("<%= Process.pid %>"), kv_job("<%= Process.pid %>", name="other")])
    assert isinstance(result, RenderedInstance), result
    pids = {int(result.files[job]["config/kv.conf"]) for job in ("kv", "other")}
    assert len(pids) == 2 and all(_gone(pid) for pid in pids)



def test_a_renderer_that_cannot_be_isolated_is_an_error_saying_why(monkeypatch):
    """As on a host that forbids network namespaces to the director's user."""
    from bosh_py.release.erb import ruby_process

    monkeypatch.setattr(ruby_process, "ruby_command", lambda *_: [
        "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/unshare", "--net", "--",
        "/usr/bin/ruby"])
    with pytest.raises(RenderError) as raised:
        render_instance_jobs([kv_job("<%= 1 %>")], INSTANCE, {})
    assert ("job 'kv' template 'kv.conf.erb': the Ruby renderer exited 1: unshare: unshare failed: "
            "Operation not permitted") in raised.value.errors
