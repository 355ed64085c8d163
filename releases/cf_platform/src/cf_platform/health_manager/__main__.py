"""``python3 -m cf_platform.health_manager --config FILE``: how the job's monit starts it."""

from .runner import main

if __name__ == "__main__":
    raise SystemExit(main())
