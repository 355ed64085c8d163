"""`bosh-py director start/stop/status` find the running director by its pid file; a pid that
no longer names a director counts as none: a killed director not yet reaped by init (a
zombie, which signal 0 still reaches) and a recycled pid. Before, `director start` after a
crash could find the zombie, say "running" and start nothing."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bosh_py.cli.director_cmds import DIRECTOR_MODULE, _pid


def pid_file(data_dir: Path, pid: int) -> Path:
    (data_dir / "director.pid").write_text(str(pid))
    return data_dir


def test_a_running_director_is_found(tmp_path):
    # a stand-in whose command line names the director module, as `director start` runs it
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", DIRECTOR_MODULE])
    try:
        pid_file(tmp_path, process.pid)
        deadline = time.monotonic() + 10  # until the child has exec'd python
        while _pid(tmp_path) != process.pid:
            assert time.monotonic() < deadline, "the running stand-in was never found"
            time.sleep(0.01)
    finally:
        process.kill()
        process.wait()


def test_a_killed_director_not_yet_reaped_is_not_running(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", DIRECTOR_MODULE])
    try:
        process.kill()
        deadline = time.monotonic() + 10
        while Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline, "the killed child never became a zombie"
            time.sleep(0.01)
        assert _pid(pid_file(tmp_path, process.pid)) is None  # a zombie: not reaped, yet gone
    finally:
        process.wait()


def test_a_recycled_pid_is_not_the_director(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.5)  # exec'd: its own command line, which names no director
        assert _pid(pid_file(tmp_path, process.pid)) is None
    finally:
        process.kill()
        process.wait()


def test_no_pid_file_or_a_bad_one_is_none(tmp_path):
    assert _pid(tmp_path) is None
    (tmp_path / "director.pid").write_text("not a pid")
    assert _pid(tmp_path) is None
