"""Forward job log lines to a syslog server over TCP (RFC 5424 messages, RFC 6587 octet
counting), each tagged with the instance it came from.

Runs on the VM with the stemcell's python3 and its standard library only. Files are polled
(no inotify in the standard library): a line is sent once it ends with a newline. Offsets
persist in ``state_file`` so a restart neither repeats nor loses lines; on the first start
ever, existing files are read from their end (their past is not news), files appearing
later from their start. A rotated or truncated file (a new inode, a smaller size, or other first bytes: inodes
get reused) is read again from its start. While the
server is unreachable, lines wait in a bounded buffer; past it the oldest are dropped and
the count is reported once the server is back.

Usage: forwarder.py CONFIG.json
"""

from __future__ import annotations

import collections
import glob
import json
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

PRIORITY = 14  # facility user (1) * 8 + severity informational (6)
ENTERPRISE_ID = 47450  # Cloud Foundry's private enterprise number, as its syslog-release tags instances
POLL_SECONDS = 0.5
MAX_BACKOFF = 10.0


HEAD_BYTES = 64  # a file whose first bytes changed is a new file, even on a reused inode


@dataclass
class TrackedFile:
    inode: int
    offset: int
    head: bytes = b""
    partial: bytes = b""

    def replaced_by(self, path: str, inode: int, size: int) -> bool:
        """Rotated (new inode, or a new file on the old inode) or truncated."""
        if inode != self.inode or size < self.offset:
            return True
        if not self.head:
            return False
        with open(path, "rb") as handle:
            return handle.read(len(self.head)) != self.head


@dataclass
class Forwarder:
    config: dict
    files: dict[str, TrackedFile] = field(default_factory=dict)
    buffer: collections.deque = field(default_factory=collections.deque)
    dropped: int = 0
    sock: socket.socket | None = None
    next_connect: float = 0.0
    backoff: float = 0.5

    # -- reading ---------------------------------------------------------------------------
    def load_state(self) -> bool:
        try:
            with open(self.config["state_file"], encoding="utf-8") as handle:
                saved = json.load(handle)
        except (OSError, ValueError):
            return False
        for path, entry in saved.items():
            self.files[path] = TrackedFile(int(entry["inode"]), int(entry["offset"]), bytes.fromhex(entry["head"]))
        return True

    def save_state(self) -> None:
        path = self.config["state_file"]
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump({p: {"inode": t.inode, "offset": t.offset - len(t.partial), "head": t.head.hex()}
                       for p, t in self.files.items()}, handle)
        os.replace(temporary, path)

    def discover(self, from_end: bool) -> None:
        for pattern in self.config["files"]:
            for path in glob.glob(pattern):
                if path in self.files or not os.path.isfile(path):
                    continue
                status = os.stat(path)
                self.files[path] = TrackedFile(status.st_ino, status.st_size if from_end else 0)

    def read_new_lines(self) -> bool:
        """Queue every complete new line; True when anything was read."""
        read_any = False
        limit = int(self.config["max_line_bytes"])
        for path, tracked in list(self.files.items()):
            try:
                status = os.stat(path)
            except FileNotFoundError:
                del self.files[path]
                continue
            if status.st_size != tracked.offset and tracked.replaced_by(path, status.st_ino, status.st_size):
                self.files[path] = tracked = TrackedFile(status.st_ino, 0)
            if status.st_size == tracked.offset:
                continue
            with open(path, "rb") as handle:
                if len(tracked.head) < HEAD_BYTES:
                    tracked.head = handle.read(HEAD_BYTES)
                handle.seek(tracked.offset)
                chunk = handle.read(min(status.st_size - tracked.offset, 1 << 20))
            tracked.offset += len(chunk)
            read_any = True
            *lines, tracked.partial = (tracked.partial + chunk).split(b"\n")
            if len(tracked.partial) > limit:  # a line that never ends is cut, not kept forever
                lines.append(tracked.partial)
                tracked.partial = b""
            for line in lines:
                self.enqueue(path, line[:limit].decode("utf-8", "replace"))
        return read_any

    # -- sending ---------------------------------------------------------------------------
    def enqueue(self, path: str, text: str) -> None:
        if len(self.buffer) >= int(self.config["max_buffered_lines"]):
            self.buffer.popleft()
            self.dropped += 1
        self.buffer.append(self.message(app_name(path), text))

    def message(self, app: str, text: str) -> bytes:
        instance = self.config["instance"]
        data = " ".join(f'{key}="{sd_escape(str(instance.get(key, "")))}"'
                        for key in ("deployment", "group", "id", "index", "az"))
        stamp = datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
        body = f"<{PRIORITY}>1 {stamp} {socket.gethostname()[:255] or '-'} {app} - - [instance@{ENTERPRISE_ID} {data}] {text}"
        encoded = body.encode("utf-8", "replace")
        return f"{len(encoded)} ".encode() + encoded

    def connect(self) -> None:
        if self.sock is not None or time.monotonic() < self.next_connect:
            return
        try:
            self.sock = socket.create_connection((self.config["address"], int(self.config["port"])), timeout=5)
            self.backoff = 0.5
        except OSError as error:
            self.next_connect = time.monotonic() + self.backoff
            self.backoff = min(self.backoff * 2, MAX_BACKOFF)
            print(f"syslog server {self.config['address']}:{self.config['port']} unreachable: {error}",
                  file=sys.stderr, flush=True)

    def flush(self) -> None:
        self.connect()
        if self.sock is None:
            return
        if self.dropped:
            self.buffer.appendleft(self.message("syslog_forwarder", f"dropped {self.dropped} lines while the "
                                                                    "syslog server was unreachable"))
            self.dropped = 0
        try:
            while self.buffer:
                self.sock.sendall(self.buffer[0])
                self.buffer.popleft()
        except OSError as error:
            print(f"lost the syslog server: {error}", file=sys.stderr, flush=True)
            self.sock.close()
            self.sock = None
            self.next_connect = time.monotonic() + self.backoff

    def run(self) -> None:
        first_start = not self.load_state()
        self.discover(from_end=first_start)
        while True:
            self.discover(from_end=False)
            if self.read_new_lines():
                self.save_state()
            self.flush()
            time.sleep(POLL_SECONDS)


def app_name(path: str) -> str:
    """The job a log belongs to: /var/vcap/sys/log/<job>/x.log → <job> (RFC 5424: ≤48 printable)."""
    parts = path.split(os.sep)
    name = parts[-2] if len(parts) >= 2 else "-"
    return "".join(c for c in name if 33 <= ord(c) <= 126)[:48] or "-"


def sd_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: forwarder.py CONFIG.json", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    Forwarder(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
