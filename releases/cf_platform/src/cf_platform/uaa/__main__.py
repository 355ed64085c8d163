"""``python3 -m cf_platform.uaa --config FILE``: how the job's monit starts it."""

from .server import main

if __name__ == "__main__":
    raise SystemExit(main())
