"""``python3 -m cf_platform.router --config /var/vcap/jobs/router/config/router.json``"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from cf_platform.router.app import Router
from cf_platform.router.config import ConfigError, load_config
from cf_platform.router.nginx import NginxError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cf_platform.router", description=__doc__)
    parser.add_argument("--config", required=True, help="the router's JSON configuration")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"router: {e}", file=sys.stderr)
        return 2
    try:
        asyncio.run(Router(config).run())
    except NginxError as e:
        print(f"router: nginx: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
