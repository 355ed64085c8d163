"""``python3 agent.pyz [--settings PATH]``: the agent's command line.

The root is "/" on a VM; BOSH_PY_AGENT_ROOT moves everything under another directory
(tests on the host)."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from bosh_py.agent.agent import Agent
from bosh_py.agent.log import setup_logging
from bosh_py.agent.paths import Paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bosh-py-agent", description="bosh-py VM agent")
    parser.add_argument("--settings", type=Path, default=None,
                        help="settings.json (default: /var/vcap/bosh/settings.json under the root)")
    opts = parser.parse_args(argv)
    paths = Paths(Path(os.environ.get("BOSH_PY_AGENT_ROOT") or "/").resolve())
    paths.ensure_layout()
    log = setup_logging(paths.agent_log_dir)
    try:
        asyncio.run(Agent(paths, opts.settings or paths.settings_json, log).run())
    except Exception as e:
        log.exception("agent failed: %s", e)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
