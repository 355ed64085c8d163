"""The parallel suite's rules (tests/worker_scheduling.py, tests/harness.py's test nets),
checked by running pytest-xdist the way scripts/test does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import REPO, worker_test_net
from tests.worker_scheduling import cost_rank, unit_of, unit_rank


def test_each_worker_gets_its_own_test_net():
    assert worker_test_net(None, None) == 0
    assert worker_test_net("24", None) == 24
    assert worker_test_net(None, "gw0") == 0
    assert worker_test_net(None, "gw2") == 2
    assert worker_test_net("16", "gw3") == 19


@pytest.mark.parametrize(("base", "worker", "message"), [
    ("x", None, r"BOSH_PY_TEST_NET='x': expected a whole number 0-25"),
    ("-1", None, r"gives test net -1: nets go from 0 to 25"),
    ("24", "gw2", r"BOSH_PY_TEST_NET='24' with xdist worker 'gw2' gives test net 26: .*lower BOSH_PY_TEST_NET"),
    ("0", "master", r"PYTEST_XDIST_WORKER='master': expected gw<index>"),
])
def test_a_test_net_out_of_range_is_refused_by_name(base, worker, message):
    with pytest.raises(ValueError, match=message):
        worker_test_net(base, worker)


def test_the_cf_modules_are_one_unit_and_other_files_their_own():
    assert unit_of("tests/e2e/cf/test_cf.py::test_push_scale_heal_delete") == \
        unit_of("tests/e2e/cf/test_cf_zero_loss.py::test_a_killed_vm_loses_no_request[dea]")
    assert unit_of("tests/e2e/test_heal.py::test_a") == "tests/e2e/test_heal.py"
    assert unit_of("tests/e2e/test_heal.py::TestX::test_b[1]") == "tests/e2e/test_heal.py"
    assert unit_of("tests/e2e/test_heal.py::test_a") != unit_of("tests/e2e/cf/test_cf.py::test_a")
    assert unit_of("tests/e2e/test_cf_like.py::test_a") == "tests/e2e/test_cf_like.py"


def test_slow_units_rank_before_vm_units_before_the_rest():
    assert cost_rank(["parametrize", "slow", "vm"]) == 0
    assert cost_rank(["vm"]) == 1
    assert cost_rank(["parametrize"]) == 2


def test_the_shared_cf_package_ranks_before_every_other_unit():
    assert unit_rank("tests/e2e/cf/", ["slow"]) < unit_rank("tests/e2e/test_heal.py", ["slow", "vm"])
    assert unit_rank("tests/e2e/cf/", []) == -1
    assert unit_rank("tests/agent/test_bpm_vm.py", ["vm"]) == 1


SAMPLE_TEST = """
import json, os
from pathlib import Path

import pytest

from tests.harness import TEST_NET

{marks}

@pytest.mark.parametrize("n", range({count}))
def test_record(n):
    line = {{"file": Path(__file__).name, "n": n, "worker": os.environ["PYTEST_XDIST_WORKER"], "net": TEST_NET}}
    with open(os.environ["RECORD"], "a") as out:
        out.write(json.dumps(line) + "\\n")
"""


def run_sample_suite(tmp_path: Path, files: dict[str, tuple[str, int]], workers: int) -> list[dict]:
    """Run ``files`` (relative path -> (module marks, number of tests)) under ``tmp_path`` on
    ``workers`` xdist workers with scripts/test's options; return what each test recorded."""
    for relative, (marks, count) in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(SAMPLE_TEST.format(marks=marks, count=count))
    record = tmp_path / "record.jsonl"
    env = {**os.environ, "RECORD": str(record), "PYTHONPATH": str(REPO), "BOSH_PY_TEST_NET": "3"}
    env.pop("PYTEST_XDIST_WORKER", None)  # this test may itself run on a worker
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
                             "--rootdir", str(tmp_path), "-c", os.devnull, "-n", str(workers), "--dist", "loadfile",
                             *files], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return [json.loads(line) for line in record.read_text().splitlines()]


def test_the_cf_modules_run_on_one_worker_and_slow_files_start_first(tmp_path):
    """scripts/test's options on a sample suite laid out like the real one: the two cf files
    (sharing the cf deployment) run on one worker, and start first of all (the run's longest
    unit, though slow files sort before it); each worker has its own test net; the slow files
    start before the many quick ones, whatever their place in collection order."""
    runs = run_sample_suite(tmp_path, {
        "tests/a_quick/test_many.py": ("", 12),
        "tests/a_slow/test_early.py": ("pytestmark = pytest.mark.slow", 1),
        "tests/b_slow/test_early_too.py": ("pytestmark = pytest.mark.slow", 1),
        "tests/e2e/cf/test_cf.py": ("pytestmark = pytest.mark.slow", 5),
        "tests/e2e/cf/test_cf_zero_loss.py": ("pytestmark = pytest.mark.slow", 5),
        "tests/z_slow/test_late.py": ("pytestmark = pytest.mark.slow", 1),
    }, workers=2)
    cf_workers = {run["worker"] for run in runs if run["file"] in ("test_cf.py", "test_cf_zero_loss.py")}
    assert len(cf_workers) == 1, runs
    assert {run["worker"]: run["net"] for run in runs} == {"gw0": 3, "gw1": 4}
    first_on_each_worker = {next(run["file"] for run in runs if run["worker"] == worker) for worker in ("gw0", "gw1")}
    assert first_on_each_worker == {"test_cf.py", "test_early.py"}, runs
    for worker in ("gw0", "gw1"):
        files = [run["file"] for run in runs if run["worker"] == worker]
        quick_from = files.index("test_many.py") if "test_many.py" in files else len(files)
        assert "test_many.py" not in files or set(files[quick_from:]) == {"test_many.py"}, runs
