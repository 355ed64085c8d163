"""The Python programs the ssh CPI runs on a machine (python3 is there for the agent).

Each is sent as ``python3 -c PROGRAM ARGS_JSON`` and prints one JSON line; exit status 3
means "refused" with the reason on stderr. They touch only what bosh-py puts on a machine:
/var/vcap, /etc/rc.local or the agent's systemd unit (the operator's own rc.local is kept
aside and put back), the lines bosh-py adds to root's authorized_keys, and the CPI's own
directory. The machine's OS, sshd and the operator's own keys are left as they are.
"""

from __future__ import annotations

import json
import shlex

from bosh_py.ssh.bootstrap import ONE_TIME_COMMENT, ROOT_AUTHORIZED_KEYS

CPI_DIR = "/var/lib/bosh-py-ssh-cpi"  # the CPI's own files on the machine (disks default below it)
DIRECTOR_KEY_COMMENT = "bosh-py-ssh-cpi"  # marks the director's key lines this CPI added
RC_LOCAL_MARK = "Written by the bosh-py director"  # bosh_py/ssh/bootstrap.py's rc.local says so

_COMMON = r"""
import fcntl, json, os, shutil, signal, subprocess, sys, time
args = json.loads(sys.argv[1])
CPI_DIR, KEYS, MARK, ONE_TIME, RC_MARK = args["cpi_dir"], args["keys_path"], args["key_mark"], args["one_time"], args["rc_mark"]

def refuse(message):
    sys.stderr.write(message + "\n")
    sys.exit(3)

def mounts_under(top):
    found = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            point = line.split()[4].replace("\\040", " ")
            if point == top or point.startswith(top + "/"):
                found.append(point)
    return sorted(found, key=len, reverse=True)

def edit_keys(keep, add):
    os.makedirs(os.path.dirname(KEYS), mode=0o700, exist_ok=True)
    with open(KEYS + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(KEYS) as current:
                lines = current.read().splitlines()
        except FileNotFoundError:
            lines = []
        kept = [line for line in lines if keep(line)] + add
        with open(KEYS + ".new", "w") as out:
            out.write("".join(line + "\n" for line in kept))
        os.chmod(KEYS + ".new", 0o600)
        os.replace(KEYS + ".new", KEYS)
"""

_ADOPT = _COMMON + r"""
held = [p for p in ("/var/vcap/bosh/settings.json", "/var/vcap/bosh/agent.pyz", "/var/vcap/jobs")
        if os.path.lexists(p)]
if held:
    refuse(f"it is not free: {held[0]} exists (an agent or jobs of something else are there)")
if not os.path.exists("/usr/bin/python3"):
    refuse("it has no /usr/bin/python3 (the agent needs it)")
os.makedirs(CPI_DIR, mode=0o700, exist_ok=True)
os.makedirs(args["disk_root"], mode=0o700, exist_ok=True)
# mounts the machine itself has under /var/vcap (its provider's) are its own: kept at release
with open(os.path.join(CPI_DIR, "machine-mounts.json"), "w") as out:
    json.dump(mounts_under("/var/vcap"), out)
with open(os.path.join(CPI_DIR, "adopted"), "w") as out:
    out.write(args["vm_cid"] + "\n")
rc, kept = "/etc/rc.local", os.path.join(CPI_DIR, "rc.local.orig")
if os.path.exists(rc) and not os.path.exists(kept):
    with open(rc) as current:
        if RC_MARK not in current.read():
            shutil.copy2(rc, kept)
edit_keys(lambda line: not line.endswith(" " + MARK), args["authorized_keys"])
print(json.dumps({"adopted": args["vm_cid"]}))
"""

_RELEASE = _COMMON + r"""
vcap, me = "/var/vcap", os.getpid()
ancestors, pid = set(), me
while pid > 1:
    ancestors.add(pid)
    try:
        with open(f"/proc/{pid}/stat") as stat:
            pid = int(stat.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        break
unit = "/etc/systemd/system/bosh-py-agent.service"
if os.path.exists(unit):
    subprocess.run(["systemctl", "disable", "--now", "bosh-py-agent.service"], capture_output=True)
    os.remove(unit)
    subprocess.run(["systemctl", "daemon-reload"], capture_output=True)

def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False

def pidfile_pids():
    found = set()
    for top, _dirs, files in os.walk(os.path.join(vcap, "sys/run")):
        for name in files:
            if name.endswith(".pid"):
                try:
                    with open(os.path.join(top, name)) as handle:
                        found.add(int(handle.read().split()[0]))
                except (OSError, ValueError, IndexError):
                    pass
    return found

def ours():
    # the agent, its restart loop and every job process: they run from /var/vcap, carry the
    # agent's BOSH_PY_PROCESS mark, or wrote a pidfile under /var/vcap/sys/run
    found = pidfile_pids()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read()
            with open(f"/proc/{pid}/environ", "rb") as handle:
                environ = handle.read()
            exe = os.readlink(f"/proc/{pid}/exe") if os.path.exists(f"/proc/{pid}/exe") else ""
        except OSError:
            continue
        if b"/var/vcap/" in cmdline or b"\0BOSH_PY_PROCESS=" in b"\0" + environ or exe.startswith(vcap + "/"):
            found.add(pid)
    return sorted(pid for pid in found - ancestors - {1} if alive(pid))

def signal_all(pids, signum):
    for pid in pids:
        try:
            os.kill(pid, signum)
        except OSError:
            pass

stopped = set()
for _round in range(20):
    pids = ours()
    if not pids:
        break
    signal_all(pids, signal.SIGSTOP)  # frozen first, so no restart loop brings one back
    stopped.update(pids)
    signal_all(pids, signal.SIGTERM)
    signal_all(pids, signal.SIGCONT)
    deadline = time.monotonic() + args["stop_timeout"]
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    signal_all(ours(), signal.SIGKILL)
    time.sleep(0.2)
else:
    refuse(f"processes under /var/vcap keep coming back: {ours()}")

try:
    with open(os.path.join(CPI_DIR, "machine-mounts.json")) as handle:
        machine_mounts = set(json.load(handle))
except (OSError, ValueError):
    machine_mounts = set()
for point in mounts_under(vcap):
    if point in machine_mounts:
        continue
    if subprocess.run(["umount", point], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", point], capture_output=True)
left = [point for point in mounts_under(vcap) if point not in machine_mounts]
if left:
    refuse(f"cannot unmount {', '.join(left)}: /var/vcap is left in place (nothing under it deleted)")

def wipe(top):
    # everything under top, except the machine's own mount points (and the way to them)
    for entry in os.scandir(top):
        if entry.path in machine_mounts:
            continue
        if any(point.startswith(entry.path + "/") for point in machine_mounts) and entry.is_dir(follow_symlinks=False):
            wipe(entry.path)
        elif entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)

if os.path.isdir(vcap) and not os.path.islink(vcap):
    wipe(vcap)
    if not machine_mounts:
        os.rmdir(vcap)
elif os.path.lexists(vcap):
    os.unlink(vcap)
rc, kept = "/etc/rc.local", os.path.join(CPI_DIR, "rc.local.orig")
if os.path.exists(rc):
    with open(rc) as current:
        if RC_MARK in current.read():
            os.remove(rc)
if os.path.exists(kept):
    shutil.move(kept, rc)
edit_keys(lambda line: not line.endswith(" " + MARK) and not line.endswith(" " + ONE_TIME), [])
for name in ("adopted", "machine-mounts.json"):
    try:
        os.remove(os.path.join(CPI_DIR, name))
    except FileNotFoundError:
        pass
print(json.dumps({"stopped_processes": len(stopped)}))
"""

_MAKE_DISK = _COMMON + r"""
path = args["path"]
if os.path.lexists(path):
    refuse(f"{path} exists already")
os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
os.mkdir(path, 0o755)
print(json.dumps({"path": path}))
"""

_DELETE_DISK = _COMMON + r"""
path = args["path"]
with open("/proc/self/mountinfo") as info:
    if any(line.split()[3] == path or line.split()[4] == path for line in info):
        refuse(f"{path} is still mounted")
if os.path.lexists(path):
    shutil.rmtree(path)
print(json.dumps({"deleted": path}))
"""

_PROBE = _COMMON + r"""
print(json.dumps({"adopted": open(os.path.join(CPI_DIR, "adopted")).read().strip()
                  if os.path.exists(os.path.join(CPI_DIR, "adopted")) else None,
                  "var_vcap": os.path.isdir("/var/vcap")}))
"""

PROGRAMS = {"adopt": _ADOPT, "release": _RELEASE, "make_disk": _MAKE_DISK, "delete_disk": _DELETE_DISK,
            "probe": _PROBE}


def command(program: str, args: dict, sudo: bool) -> str:
    """The shell command running ``program`` with ``args`` (plus the common constants)."""
    full = {"cpi_dir": CPI_DIR, "keys_path": ROOT_AUTHORIZED_KEYS, "key_mark": DIRECTOR_KEY_COMMENT,
            "one_time": ONE_TIME_COMMENT, "rc_mark": RC_LOCAL_MARK, **args}
    line = f"/usr/bin/python3 -c {shlex.quote(PROGRAMS[program])} {shlex.quote(json.dumps(full))}"
    return f"sudo -n {line}" if sudo else line
