"""``python3 -m cf_platform.dea.drain --config dea.json [drain args...]``: the dea job's
``bin/drain`` (https://bosh.io/docs/drain/). Each run prints one integer on stdout: the first
run asks the DEA to evacuate (SIGUSR2) and prints -1 ("ask me again in 1 s"); later runs
print -1 until the DEA reports its evacuation done (or it is not running, or it stayed
silent past the evacuation timeout), then 0. What it did goes to stderr (the job's
drain.stderr.log)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from .config import ConfigError, DeaConfig
from .evacuation import EvacuationFiles, drain_step, pid_alive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cf_platform.dea.drain", description="the DEA job's drain script")
    parser.add_argument("--config", required=True)
    parser.add_argument("bosh_args", nargs="*", help="what the agent passes (job_shutdown, job_check_status, ...)")
    args = parser.parse_args(argv)
    try:
        config = DeaConfig.load(args.config)
    except ConfigError as error:
        print(f"dea drain: {error}", file=sys.stderr)
        return 1
    files = EvacuationFiles(config.base_dir)
    pid = files.read_pid()
    running = pid is not None and pid_alive(pid)
    now = time.time()
    status = files.read_status(pid) if running and pid is not None else None
    requested = files.read_request(pid) if running and pid is not None else None
    step = drain_step(running, status, requested, now, config.evacuation_timeout)
    if step.signal and pid is not None:
        files.write_request(pid, now)
        os.kill(pid, signal.SIGUSR2)
    print(f"dea drain ({' '.join(args.bosh_args) or 'no args'}): {step.why}", file=sys.stderr)
    print(step.answer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
