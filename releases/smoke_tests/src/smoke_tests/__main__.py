"""``python3 -m smoke_tests --config FILE``: exit 0 when every step passed, 1 otherwise."""

from __future__ import annotations

import argparse
import json
import sys

from smoke_tests.steps import Config, StepFailed, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smoke_tests")
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    try:
        with open(args.config) as handle:
            config = Config.from_json(json.load(handle))
        run(config, sys.stdout)
    except StepFailed as failure:
        print(str(failure), file=sys.stderr, flush=True)
        return 1
    except (OSError, ValueError) as error:
        print(f"smoke_tests FAILED at step 'config': {args.config}: {error}", file=sys.stderr, flush=True)
        return 1
    print("smoke_tests PASSED", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
