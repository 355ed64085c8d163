"""A rollout's time on the dummy CPI (agents as host processes, no root): the next batch's
agents fetch their new jobs while the batch before is watched, so its turn has no upload or
download; a failed rollout leaves none of those fetched-ahead archives in the blobstore; the
watch lasts the update block's low end, not a floor of the agent's; every update logs where
its time went ("Timing" lines)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bosh_py.director.steps.timing import parse_line
from tests.director.dummy_support import DEPLOYMENT

RELEASE = "speedrel"
# the job's one process: a loop, or (mode "fail") an exit, so a canary can be made to fail
MONIT = ("processes:\n- name: worker\n  executable: /bin/sh\n  args: ['-c', "
         "\"{% if p('mode') == 'fail' %}exit 1{% else %}while :; do sleep 1; done{% endif %}\"]\n")


def write_release(root: Path) -> Path:
    job = root / "jobs" / "worker"
    (job / "templates").mkdir(parents=True)
    (root / "config").mkdir()
    (root / "config/final.yml").write_text(f"name: {RELEASE}\n")
    (job / "templates/worker.conf").write_text("mode={{ p('mode') }} rev={{ p('rev') }}\n")
    (job / "spec").write_text(yaml.safe_dump({
        "name": "worker", "templates": {"worker.conf": "config/worker.conf"}, "packages": [],
        "properties": {"mode": {"default": "ok"}, "rev": {"default": 0}}}))
    (job / "monit").write_text(MONIT)
    return root


@pytest.fixture(scope="module")
def dummy(tmp_path_factory):
    from tests.director.dummy_support import dummy_director
    root = tmp_path_factory.mktemp("rollout-speed")
    with dummy_director(root) as director:
        director.cli("upload-release", str(write_release(root / "speedrel")))
        yield director


def deploy(dummy, rev: int, mode: str = "ok", watch: str = "100-5000", check: bool = True):
    doc = {
        "name": DEPLOYMENT, "releases": [{"name": RELEASE, "version": "latest"}],
        "stemcells": [{"alias": "default", "os": "debian-bookworm", "version": "latest"}],
        "update": {"canaries": 1, "max_in_flight": 2, "canary_watch_time": watch, "update_watch_time": watch},
        "instance_groups": [{
            "name": "loop", "azs": ["z1", "z2"], "instances": 4, "vm_type": "default", "stemcell": "default",
            "networks": [{"name": "default"}],
            "jobs": [{"name": "worker", "release": RELEASE, "properties": {"mode": mode, "rev": rev}}]}],
    }
    path = dummy.root / "speed.yml"
    path.write_text(yaml.safe_dump(doc))
    return dummy.cli("deploy", "-n", str(path), check=check)


def debug_log(dummy) -> list[str]:
    task = str(dummy.json("tasks", "-r", "1")[0]["id"])
    return [line.split(" ", 1)[1] for line in dummy.cli("task", task, "--debug").stdout.splitlines() if " " in line]


def timings(lines: list[str]) -> dict[str, dict[str, float]]:
    found = {}
    for line in lines:
        parsed = parse_line(line)
        if parsed:
            found[parsed[0]] = parsed[1]
    return found


def blob_count(dummy) -> int:
    return sum(1 for path in (dummy.data_dir / "blobstore").rglob("*") if re.fullmatch(r"[0-9a-f]{32}", path.name))


def worker_conf(dummy) -> dict[int, str]:
    rows = dummy.json("instances", "-d", DEPLOYMENT)
    return {row["index"]: (dummy.state_dir / "vms" / row["vm_cid"] / "var/vcap/jobs/worker/config/worker.conf")
            .read_text().strip() for row in rows}


def test_next_batch_is_fetched_while_the_one_before_is_watched(dummy):
    deploy(dummy, rev=1)
    deploy(dummy, rev=2)
    lines = debug_log(dummy)
    order = [line for line in lines if line.startswith(("Rollout of loop:", "Prepared loop/"))]
    # canary loop/0 (z1); batch 2: loop/2 (z1); batch 3: loop/1, loop/3 (z2)
    assert order[0] == "Rollout of loop: canary (az z1): loop/0", order
    assert order[1] == "Prepared loop/2 ahead of its turn", order
    assert order[2] == "Rollout of loop: batch 2 (az z1): loop/2", order
    assert sorted(order[3:5]) == ["Prepared loop/1 ahead of its turn", "Prepared loop/3 ahead of its turn"], order
    assert order[5] == "Rollout of loop: batch 3 (az z2): loop/1, loop/3", order
    steps = timings(lines)
    assert {"upload", "prepare", "stop", "apply", "start", "watch", "post-start"} <= set(steps["loop/0"])
    for ahead in ("loop/1", "loop/2", "loop/3"):  # their turn: no upload, no download
        assert "upload" not in steps[ahead] and "prepare" not in steps[ahead], steps[ahead]
        assert {"stop", "apply", "start", "watch"} <= set(steps[ahead])
    assert worker_conf(dummy) == {i: "mode=ok rev=2" for i in range(4)}


def test_watch_lasts_the_update_blocks_low_end(dummy):
    deploy(dummy, rev=3, watch="300-5000")
    steps = timings(debug_log(dummy))
    watches = {name: spans.get("watch") for name, spans in steps.items()}
    assert all(watches.values()), steps
    assert len(watches) == 4
    # at least the low end; the agent's old 1 s "starting" floor made every watch last a second
    assert all(0.3 <= seconds < 0.8 for seconds in watches.values()), watches


def test_failed_canary_leaves_no_fetched_ahead_archive(dummy):
    deploy(dummy, rev=4)
    blobs = blob_count(dummy)
    result = deploy(dummy, rev=5, mode="fail", watch="100-1500", check=False)
    assert result.returncode == 1 and "is not running after update" in result.stdout + result.stderr
    lines = debug_log(dummy)
    assert "Prepared loop/2 ahead of its turn" in lines  # fetched during the canary's watch...
    assert not any(line.startswith("Rollout of loop: batch") for line in lines)  # ...whose turn never came
    # the canary's new archive replaced its old one; loop/2's fetched-ahead archive is gone again
    assert blob_count(dummy) == blobs
    assert {i: conf for i, conf in worker_conf(dummy).items() if i != 0} == {i: "mode=ok rev=4" for i in (1, 2, 3)}
