"""The command that starts Ruby for ERB templates, isolated from the director.

ERB is Ruby: a template can run any code. Rendering happens on the director host, so the
Ruby process gets no more than it needs to turn text into text:

- run as root (the director's case): a new network namespace (no interface up, so no
  address, not even loopback, is reachable) and then ``nobody``/``nogroup`` with no
  supplementary groups and ``no_new_privs``, so the director's 0700 data dir, its
  secrets and its state DB are out of reach;
- run as another user: a new user and network namespace (already unprivileged);
- always: an environment of PATH and LANG only, working directory ``/``, no inherited
  file descriptors but its pipes, killed if the process that started it dies; the script
  then caps its own address space and CPU time and forbids new processes (no fork, no
  threads) and file writes (RLIMIT_FSIZE 0).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import RenderError

SCRIPT = Path(__file__).with_name("renderer.rb")
NOBODY = 65534
RUBY_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def _tool(name: str, package: str) -> str:
    found = shutil.which(name, path=RUBY_ENV["PATH"])
    if found is None:
        raise RenderError(f"Unable to render templates: ERB templates need '{name}' on the director host "
                          f"(Debian package '{package}'; scripts/setup installs it)")
    return found


def ruby_command(memory_bytes: int, cpu_seconds: int) -> list[str]:
    """argv for one isolated Ruby renderer; the script travels as ``-e`` so the
    unprivileged user needs no read access to the installed package."""
    ruby = [_tool("ruby", "ruby"), "--disable-gems", "-e", SCRIPT.read_text(), str(memory_bytes), str(cpu_seconds)]
    unshare, setpriv = _tool("unshare", "util-linux"), _tool("setpriv", "util-linux")
    # --pdeathsig: the renderer dies with the process that started it, even one killed.
    if os.geteuid() == 0:
        drop = [f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--no-new-privs"]
        return [unshare, "--net", "--", setpriv, *drop, "--pdeathsig", "KILL", *ruby]
    return [unshare, "--user", "--net", "--", setpriv, "--no-new-privs", "--pdeathsig", "KILL", *ruby]
