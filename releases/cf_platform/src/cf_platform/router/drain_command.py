"""bin/drain of the router job: ``python3 -m cf_platform.router.drain_command --config FILE``.

Prints one integer, BOSH's drain protocol (the agent's ``drain`` action): ``-1`` "ask me
again in a second" while the router drains, ``0`` once it is drained (nginx has finished
the requests in flight and exited), or when there is nothing to drain. Every call does the
same (BOSH's first call says job_shutdown/job_changed, the next ones job_check_status; the
router drains on any of them, as gorouter does): find the router, start its drain with
SIGUSR1 if it has not started, report. Bounded: the router stops nginx by
``drain.wait + drain.timeout`` (SIGKILL after that), so past that plus a margin this
script answers 0 whatever the router says, and a router that never answers the signal
cannot hold the VM's update. Diagnostics go to stderr; stdout holds only the integer.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cf_platform.router.config import ConfigError, RouterConfig, load_config
from cf_platform.router.drain_state import (
    DRAINED,
    DRAINING,
    is_router_process,
    read_pid,
    read_state,
    write_atomically,
)

ASK_AGAIN = -1
DONE = 0
MARGIN = 5.0  # seconds past drain.wait + drain.timeout: nginx's SIGKILL and the last writes


def drain_step(config: RouterConfig, now: float, say: Callable[[str], None],
               send: Callable[[int, int], None] = os.kill) -> int:
    """One call of bin/drain: the integer to print."""
    if not config.pid_file or not config.drain.state_file:
        raise ConfigError("pid_file and drain.state_file are needed to drain the router")
    limit = config.drain.wait + config.drain.timeout + MARGIN
    pid = read_pid(config.pid_file)
    if pid is None or not is_router_process(pid):
        say("the router is not running: nothing to drain")
        return DONE
    state = read_state(config.drain.state_file)
    if state is not None and state.phase == DRAINED:
        say("the router is drained")
        return DONE
    if state is not None and state.phase == DRAINING:
        if now - state.since > limit:
            say(f"the router has been draining for {now - state.since:.0f}s (limit {limit:.0f}s): giving up")
            return DONE
        return ASK_AGAIN
    signalled = Path(config.drain.state_file + ".signalled")
    first = _signalled_at(signalled, pid)
    if first is not None and now - first > limit:
        say(f"the router (pid {pid}) did not start draining {now - first:.0f}s after SIGUSR1: giving up")
        return DONE
    if first is None:
        write_atomically(signalled, f"{pid} {now:.3f}\n")
    send(pid, signal.SIGUSR1)
    say(f"asked the router (pid {pid}) to drain")
    return ASK_AGAIN


def _signalled_at(path: Path, pid: int) -> float | None:
    """When this script first signalled this router process (another PID: a former run)."""
    try:
        signalled_pid, at = path.read_text().split()
        return float(at) if int(signalled_pid) == pid else None
    except (OSError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cf_platform.router.drain_command", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="the router's JSON configuration")
    parser.add_argument("bosh_args", nargs="*", help="what the agent passes (job_shutdown, ...)")
    args = parser.parse_args(argv)

    def say(text: str) -> None:
        print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} router drain: {text}",
              file=sys.stderr)

    try:
        value = drain_step(load_config(args.config), time.time(), say)
    except ConfigError as e:
        say(str(e))
        return 1
    print(value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
