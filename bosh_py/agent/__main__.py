"""``python -m bosh_py.agent`` and the zipapp's entry point."""

from bosh_py.agent.main import main

if __name__ == "__main__":
    raise SystemExit(main())
