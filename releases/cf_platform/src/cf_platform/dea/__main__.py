"""``python3 -m cf_platform.dea --config dea.json``: run the DEA until SIGTERM (SIGUSR2: evacuate)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from .agent import Dea
from .config import ConfigError, DeaConfig


async def serve(config: DeaConfig) -> None:
    """SIGTERM/SIGINT: stop every instance and leave. SIGUSR2: evacuate (the job's drain
    script sends it; cf_platform.dea.evacuation)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    dea = Dea(config)
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGUSR2, lambda: dea.spawn(dea.evacuate()))
    await dea.run(stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cf_platform.dea", description="Cloud Foundry DEA")
    parser.add_argument("--config", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        config = DeaConfig.load(args.config)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    logging.basicConfig(level=getattr(logging, config.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout)
    logging.getLogger("nats").setLevel(logging.WARNING)
    asyncio.run(serve(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
