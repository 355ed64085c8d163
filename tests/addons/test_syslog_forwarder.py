"""releases/syslog_forwarder's forwarder, as the VM runs it (the system python3, standard
library only) against a real TCP syslog receiver on loopback."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

FORWARDER = Path(__file__).resolve().parents[2] / "releases/syslog_forwarder/src/syslog_forwarder/forwarder.py"
FRAME = re.compile(rb"(\d+) ")


class Receiver:
    """A TCP syslog server that splits RFC 6587 octet-counted frames."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self.server = socket.create_server((host, port))
        self.port = self.server.getsockname()[1]
        self.messages: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        data = b""
        with conn:
            while chunk := conn.recv(65536):
                data += chunk
                while (match := FRAME.match(data)) and len(data) >= match.end() + int(match.group(1)):
                    end = match.end() + int(match.group(1))
                    self.messages.append(data[match.end():end].decode())
                    data = data[end:]

    def close(self) -> None:
        try:
            self.server.shutdown(socket.SHUT_RDWR)  # wakes the accept(); close() alone leaves the port listening
        except OSError:
            pass
        self.server.close()
        self.thread.join(timeout=5)

    def wait_for(self, count: int, timeout: float = 10) -> list[str]:
        return self.wait_for_all(lambda messages: len(messages) >= count, timeout)

    def wait_for_all(self, done, timeout: float = 10) -> list[str]:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not done(list(self.messages)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert done(list(self.messages)), self.messages[-20:]
        return self.messages


@pytest.fixture
def logs(tmp_path):
    (tmp_path / "log/web").mkdir(parents=True)
    return tmp_path


def start(logs: Path, port: int, **overrides) -> subprocess.Popen:
    config = {"address": "127.0.0.1", "port": port, "files": [str(logs / "log/*/*.log")],
              "max_buffered_lines": 100, "max_line_bytes": 64, "state_file": str(logs / "state/offsets.json"),
              "instance": {"deployment": "cf", "group": "router", "id": "0c1f", "index": 0, "az": 'z"1]'},
              **overrides}
    (logs / "forwarder.json").write_text(json.dumps(config))
    return subprocess.Popen(["/usr/bin/python3", str(FORWARDER), str(logs / "forwarder.json")],
                            stderr=subprocess.PIPE, text=True)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=10)


def append(path: Path, text: str) -> None:
    with path.open("a") as handle:
        handle.write(text)


def test_lines_arrive_as_rfc5424_tagged_with_the_instance(logs):
    log = logs / "log/web/web.log"
    log.write_text("from before the first start\n")
    receiver = Receiver()
    process = start(logs, receiver.port)
    try:
        time.sleep(1)
        append(log, "hello\nhalf a li")
        [message] = receiver.wait_for(1)
        assert re.fullmatch(r'<14>1 \S+Z \S+ web - - \[instance@47450 deployment="cf" group="router" id="0c1f" '
                            r'index="0" az="z\\"1\\]"\] hello', message), message
        append(log, "ne\n" + "x" * 100 + "\n")
        messages = receiver.wait_for(3)
        assert messages[1].endswith("] half a line")
        assert messages[2].endswith("] " + "x" * 64)  # cut at max_line_bytes
        assert not any("from before" in m for m in messages)  # the first start reads from the end
    finally:
        stop(process)
        receiver.close()


def test_a_restart_neither_repeats_nor_loses_lines_and_rotation_starts_over(logs):
    log = logs / "log/web/web.log"
    receiver = Receiver()
    process = start(logs, receiver.port)
    try:
        time.sleep(1)
        append(log, "one\n")
        receiver.wait_for(1)
        stop(process)
        append(log, "two\n")  # written while the forwarder is down
        process = start(logs, receiver.port)
        receiver.wait_for(2)
        log.unlink()
        log.write_text("after rotation\n")
        messages = receiver.wait_for(3)
        assert [m.rsplit("] ", 1)[1] for m in messages] == ["one", "two", "after rotation"]
    finally:
        stop(process)
        receiver.close()


def test_lines_wait_while_the_server_is_down_and_the_overflow_is_counted(logs):
    log = logs / "log/web/web.log"
    receiver = Receiver()
    port = receiver.port
    receiver.close()  # nobody listens yet
    process = start(logs, port, max_buffered_lines=3)
    try:
        time.sleep(1)
        append(log, "".join(f"line {n}\n" for n in range(5)))
        time.sleep(1.5)
        receiver = Receiver(port)
        messages = receiver.wait_for(4, timeout=20)
        assert messages[0].endswith("] dropped 2 lines while the syslog server was unreachable")
        assert [m.rsplit("] ", 1)[1] for m in messages[1:]] == ["line 2", "line 3", "line 4"]
    finally:
        stop(process)
        receiver.close()
