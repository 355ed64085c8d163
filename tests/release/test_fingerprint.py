"""Fingerprints depend on content, paths, exec bits and dependencies, nothing else."""

from __future__ import annotations

import os

from bosh_py.release import read_release_dir

from .conftest import write


def _fps(root):
    rel = read_release_dir(root)
    return {**{f"job:{n}": j.fingerprint for n, j in rel.jobs.items()},
            **{f"pkg:{n}": p.fingerprint for n, p in rel.packages.items()}}


def test_stable_across_reads_and_mtimes(make_release):
    root = make_release()
    first = _fps(root)
    for path in root.rglob("*"):
        os.utime(path, (1, 1))
    assert _fps(root) == first
    assert all(len(fp) == 64 for fp in first.values())


def test_same_content_elsewhere_same_fingerprint(make_release, tmp_path):
    assert _fps(make_release()) == _fps(make_release(tmp_path / "copy"))


def test_changes_when_a_file_changes(make_release):
    root = make_release()
    before = _fps(root)
    write(root / "src/lib/a.txt", "lib a, changed\n")
    after = _fps(root)
    assert after["pkg:lib"] != before["pkg:lib"]
    assert after["pkg:app"] == before["pkg:app"]  # a dependency's content is not the dependent's
    assert after["job:web"] == before["job:web"]


def test_changes_with_template_exec_bit_and_dependencies(make_release):
    root = make_release()
    before = _fps(root)
    write(root / "jobs/web/templates/web.conf.j2", "port={{ p('web.port') }} # new\n")
    assert _fps(root)["job:web"] != before["job:web"]

    root = make_release()
    os.chmod(root / "src/lib/b.txt", 0o755)
    assert _fps(root)["pkg:lib"] != before["pkg:lib"]

    root = make_release()
    write(root / "packages/app/spec", "name: app\ndependencies: []\nfiles:\n- app/**/*\n")
    assert _fps(root)["pkg:app"] != before["pkg:app"]


def test_new_file_changes_fingerprint(make_release):
    root = make_release()
    before = _fps(root)
    write(root / "src/lib/c.txt", "more\n")
    assert _fps(root)["pkg:lib"] != before["pkg:lib"]
