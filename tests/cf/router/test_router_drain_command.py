"""bin/drain's decisions (cf_platform.router.drain_command.drain_step), one per router state,
with real files and, where the script must recognise a router, a real process whose command
line names cf_platform.router; the signal itself is recorded, not sent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cf_platform.router.config import ConfigError, parse_config
from cf_platform.router.drain_command import drain_step
from cf_platform.router.drain_state import (
    DRAINED,
    DRAINING,
    DrainState,
    is_router_process,
    write_state,
)

from tests.harness import wait_until

NOW = 1_000_000.0
LIMIT = 2.0 + 10.0 + 5.0  # wait + timeout + the script's margin


@pytest.fixture
def fake_router():
    """A live process that bin/drain takes for the router (its argv has the module name)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "cf_platform.router"])
    wait_until(lambda: is_router_process(proc.pid), 10, message="the fake router's command line")
    yield proc
    proc.kill()
    proc.wait(5)


def _config(tmp_path: Path):
    return parse_config({"nats": {"servers": ["nats://127.0.0.1:4222"]},
                         "pid_file": str(tmp_path / "router.pid"),
                         "drain": {"wait": 2, "timeout": 10, "state_file": str(tmp_path / "drain.state")}})


def _step(config, now: float = NOW) -> tuple[int, list[tuple[int, int]], list[str]]:
    sent: list[tuple[int, int]] = []
    said: list[str] = []
    value = drain_step(config, now, said.append, lambda pid, sig: sent.append((pid, sig)))
    return value, sent, said


def test_no_router_running_is_drained(tmp_path):
    config = _config(tmp_path)
    assert _step(config)[0:2] == (0, [])                       # no pid file
    Path(config.pid_file).write_text(f"{os.getpid()}\n")        # a PID that is not a router
    value, sent, said = _step(config)
    assert (value, sent) == (0, []) and "not running" in said[0]


def test_first_call_signals_the_router_and_asks_again(tmp_path, fake_router):
    config = _config(tmp_path)
    Path(config.pid_file).write_text(f"{fake_router.pid}\n")
    assert _step(config)[0:2] == (-1, [(fake_router.pid, signal.SIGUSR1)])
    # the router has not written its state yet: signalled again (idempotent), still bounded
    assert _step(config, NOW + 1)[0:2] == (-1, [(fake_router.pid, signal.SIGUSR1)])
    value, sent, said = _step(config, NOW + LIMIT + 1)
    assert (value, sent) == (0, []) and "did not start draining" in said[0]


def test_draining_asks_again_until_drained_or_past_the_limit(tmp_path, fake_router):
    config = _config(tmp_path)
    Path(config.pid_file).write_text(f"{fake_router.pid}\n")
    write_state(config.drain.state_file, DrainState(DRAINING, NOW))
    value, sent, said = _step(config, NOW + 5)
    assert (value, sent) == (-1, []), said
    value, _, said = _step(config, NOW + LIMIT + 1)
    assert value == 0 and "giving up" in said[0]
    write_state(config.drain.state_file, DrainState(DRAINED, NOW + 3))
    assert _step(config, NOW + 5)[0:2] == (0, [])


def test_signal_marker_of_an_earlier_router_process_is_ignored(tmp_path, fake_router):
    config = _config(tmp_path)
    Path(config.pid_file).write_text(f"{fake_router.pid}\n")
    Path(config.drain.state_file + ".signalled").write_text(f"{fake_router.pid + 100000} {NOW - 3600}\n")
    assert _step(config)[0:2] == (-1, [(fake_router.pid, signal.SIGUSR1)])


def test_config_without_drain_files_is_refused(tmp_path):
    config = parse_config({"nats": {"servers": ["nats://127.0.0.1:4222"]}})
    with pytest.raises(ConfigError, match="pid_file and drain.state_file"):
        _step(config)


@pytest.mark.parametrize("section,key,value,message", [
    ("drain", "wait", -1, "drain.wait: expected a number of seconds >= 0"),
    ("drain", "timeout", "ten", "drain.timeout: expected a number of seconds >= 0"),
    ("nginx", "worker_shutdown_timeout", 0, "nginx.worker_shutdown_timeout: must be positive"),
    ("drain", "tiemout", 5, "drain: unknown keys"),
])
def test_bad_drain_and_reload_settings_are_named(section, key, value, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({"nats": {"servers": ["nats://127.0.0.1:4222"]}, section: {key: value}})
