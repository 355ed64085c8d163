"""The pure parts of `bosh-py ssh -c` across instances and `bosh-py scp`: output lines
prefixed per instance however the stream is chunked, the summary naming each failure, which
side of scp is remote, and where downloads land."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from bosh_py.cli.ssh_cmds import download_destination, parse_scp_sides
from bosh_py.errors import BoshPyError
from bosh_py.ssh.fanout import Outcome, PrefixedLines, Target, summary


def test_lines_are_prefixed_whole_whatever_the_chunks() -> None:
    seen: list[str] = []
    sink = PrefixedLines("router/0c1f", seen.append, threading.Lock())
    for chunk in ("fir", "st\nsec", "ond\r\n", "\nlast without newline"):
        sink.write(chunk)
    assert seen == ["router/0c1f: first", "router/0c1f: second", "router/0c1f: "]
    sink.flush()
    assert seen[-1] == "router/0c1f: last without newline"
    sink.flush()
    assert len(seen) == 4


def test_summary_names_every_failed_instance_and_how() -> None:
    outcomes = [Outcome("nats/a", 0), Outcome("nats/b", 7), Outcome("nats/c", None, "cannot connect")]
    head, failures = summary(outcomes, "Succeeded")
    assert head == "Succeeded on 1 of 3 instance(s); failed on 2"
    assert failures == ["nats/b: exit status 7", "nats/c: cannot connect"]
    assert summary([Outcome("nats/a", 0)], "Copied") == ("Copied on 1 of 1 instance(s)", [])


@pytest.mark.parametrize(("source", "destination", "expected"), [
    ("file.txt", "router:/tmp/file.txt", ("router", "/tmp/file.txt", "file.txt", True)),
    ("router/0:/var/vcap/sys/log/x.log", "out", ("router/0", "/var/vcap/sys/log/x.log", "out", False)),
    ("./router:odd-name", "router/2:/tmp/x", ("router/2", "/tmp/x", "./router:odd-name", True)),
])
def test_scp_sides(source: str, destination: str, expected: tuple) -> None:
    assert parse_scp_sides(source, destination) == expected


@pytest.mark.parametrize(("source", "destination"), [("a", "b"), ("g:/a", "g/1:/b")])
def test_scp_needs_exactly_one_remote_side(source: str, destination: str) -> None:
    with pytest.raises(BoshPyError, match="exactly one of SRC and DST must be GROUP"):
        parse_scp_sides(source, destination)


def test_downloads_from_several_instances_land_in_one_directory_each(tmp_path: Path) -> None:
    target = Target("nats/5e1c", "10.0.0.2", "root", "ssh-ed25519 AAAA")
    assert download_destination(tmp_path, "/var/vcap/bosh/spec.json", True)(target) == \
        tmp_path / "nats.5e1c" / "spec.json"
    assert download_destination(tmp_path, "/var/vcap/bosh/spec.json", False)(target) == tmp_path / "spec.json"
    assert download_destination(tmp_path / "x.json", "/a/spec.json", False)(target) == tmp_path / "x.json"
