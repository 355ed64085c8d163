"""The suite's own rules, checked by running pytest the way a developer or CI does:
the README's marker selections pick the right tests, and in CI a skip fails the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import AllowedSkip, is_allowed, load_allowed_skips
from tests.harness import REPO


def collected(*args: str) -> set[str]:
    """Node ids pytest collects from the repository's tests with these options."""
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                             *args], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return {line for line in result.stdout.splitlines() if "::" in line}


def test_not_vm_runs_the_tests_that_need_no_vm():
    """README: `scripts/test -m "not vm"` skips the tests that need real namespace VMs."""
    selected = collected("-m", "not vm")
    files = {node.split("::")[0] for node in selected}
    assert {"tests/director/test_locks.py", "tests/manifest/test_manifest_load.py"} <= files
    assert not [node for node in selected if node.startswith("tests/e2e/")]


def test_slow_runs_every_end_to_end_test_and_nothing_without_vms():
    """README: `scripts/test -m slow` runs the end-to-end tests: all of tests/e2e (and any
    other test marked slow), each of which needs VMs."""
    slow = collected("-m", "slow")
    e2e_files = {str(path.relative_to(REPO)) for path in (REPO / "tests/e2e").glob("test_*.py")}
    assert e2e_files <= {node.split("::")[0] for node in slow}
    assert slow <= collected("-m", "vm")


def run_pytest_on(tmp_path: Path, source: str, ci: bool) -> subprocess.CompletedProcess:
    (tmp_path / "test_sample.py").write_text(source)
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
                           str(tmp_path / "test_sample.py")], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)


SKIPPING_TEST = """
import pytest

@pytest.mark.skipif(True, reason="no frobnicator on this machine")
def test_marked():
    pass

def test_imperative():
    pytest.skip("the fixture found nothing to test")

@pytest.mark.xfail(reason="known bug", strict=True)
def test_expected_failure():
    assert False
"""


def test_a_skip_in_ci_fails_the_run_and_says_why(tmp_path):
    result = run_pytest_on(tmp_path, SKIPPING_TEST, ci=True)
    assert result.returncode == 1, result.stdout
    assert "1 failed, 1 xfailed, 1 error" in result.stdout  # a skipif fails in setup: an error
    assert "test_marked was skipped in CI (Skipped: no frobnicator on this machine)" in result.stdout
    assert "test_imperative was skipped in CI (Skipped: the fixture found nothing to test)" in result.stdout


def test_a_module_that_skips_itself_fails_the_run_in_ci(tmp_path):
    result = run_pytest_on(tmp_path, "import pytest\npytest.skip('no root', allow_module_level=True)\n", ci=True)
    assert result.returncode != 0, result.stdout
    assert "was skipped in CI (Skipped: no root)" in result.stdout


def test_outside_ci_a_skip_stays_a_skip(tmp_path):
    result = run_pytest_on(tmp_path, SKIPPING_TEST, ci=False)
    assert result.returncode == 0, result.stdout
    assert "2 skipped, 1 xfailed" in result.stdout


def test_allow_list_entries_need_a_reason(tmp_path):
    listed = tmp_path / "allowed_skips.txt"
    listed.write_text("# comment\n\ntests/a.py::test_b[*  # needs a GPU\n")
    assert load_allowed_skips(listed) == [AllowedSkip("tests/a.py::test_b[*", "needs a GPU")]
    assert is_allowed("tests/a.py::test_b[x]", load_allowed_skips(listed))
    assert not is_allowed("tests/a.py::test_b", load_allowed_skips(listed))
    listed.write_text("tests/a.py::test_b\n")
    with pytest.raises(pytest.UsageError, match=r"allowed_skips.txt:1: expected"):
        load_allowed_skips(listed)


def test_the_shipped_allow_list_reads():
    for entry in load_allowed_skips():
        assert entry.reason
