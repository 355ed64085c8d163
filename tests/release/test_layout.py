"""Reading release directories: what is found, and errors that name the file and field."""

from __future__ import annotations

import pytest

from bosh_py.errors import BoshPyError
from bosh_py.release import ReleaseError, read_release_dir

from .conftest import write


def test_reads_jobs_packages_and_resolves_files(make_release):
    rel = read_release_dir(make_release())
    assert rel.name == "demo"
    assert sorted(rel.jobs) == ["web"] and sorted(rel.packages) == ["app", "lib"]
    lib_files = [f.archive_path for f in rel.packages["lib"].files]
    assert lib_files == ["packaging", "lib/a.txt", "lib/b.txt"]  # skip.tmp excluded
    app = rel.packages["app"]
    assert [f.archive_path for f in app.files] == ["packaging", "app/app.bin"]  # found in blobs/
    assert [f.archive_path for f in rel.jobs["web"].files] == [
        "job.MF", "monit", "templates/web.conf.j2", "templates/ctl.j2"]
    assert rel.packages_in_dependency_order() == ["lib", "app"]


def test_src_wins_over_blobs(make_release):
    root = make_release()
    write(root / "src/app/app.bin", "from src\n")
    app = read_release_dir(root).packages["app"]
    assert app.files[1].source == root / "src/app/app.bin"


def test_job_referencing_missing_package_names_the_spec(make_release):
    root = make_release()
    spec = root / "jobs/web/spec"
    spec.write_text(spec.read_text().replace("packages: [app]", "packages: [app, foo]"))
    with pytest.raises(ReleaseError) as e:
        read_release_dir(root)
    assert str(e.value) == f"{spec}: packages/1: package 'foo' is not in this release"
    assert isinstance(e.value, BoshPyError)


def test_unknown_dependency_is_an_error(make_release):
    root = make_release()
    write(root / "packages/app/spec", "name: app\ndependencies: [lib, nope]\nfiles: [app/**/*]\n")
    with pytest.raises(ReleaseError, match=r"packages/app/spec: dependencies/1: package 'nope' is not in this release"):
        read_release_dir(root)


def test_dependency_cycle_is_detected(make_release):
    root = make_release()
    write(root / "packages/lib/spec", "name: lib\ndependencies: [app]\nfiles: [lib/*]\n")
    with pytest.raises(ReleaseError, match=r"dependency cycle: app -> lib -> app"):
        read_release_dir(root)


def test_glob_matching_nothing_names_the_pattern(make_release):
    root = make_release()
    write(root / "packages/lib/spec", "name: lib\nfiles: [lib/*, nothing/here]\n")
    with pytest.raises(ReleaseError, match=r"packages/lib/spec: files/1: 'nothing/here' matches no file"):
        read_release_dir(root)


def test_spec_field_errors_name_the_field(make_release):
    root = make_release()
    write(root / "jobs/web/spec", "name: web\npackages: nope-not-a-list\n")
    with pytest.raises(ReleaseError, match=r"jobs/web/spec: packages: "):
        read_release_dir(root)
    write(root / "jobs/web/spec", "name: other\n")
    with pytest.raises(ReleaseError, match=r"jobs/web/spec: name: 'other' does not match the directory name 'web'"):
        read_release_dir(root)


def test_missing_template_and_bad_destination(make_release):
    root = make_release()
    (root / "jobs/web/templates/ctl.j2").unlink()
    with pytest.raises(ReleaseError, match=r"jobs/web/spec: templates/ctl.j2: template file .* is missing"):
        read_release_dir(root)
    make_release(root)
    spec = root / "jobs/web/spec"
    spec.write_text(spec.read_text().replace("bin/ctl", "../../etc/ctl"))
    with pytest.raises(ReleaseError, match=r"templates/ctl.j2: destination '../../etc/ctl' must be a relative path"):
        read_release_dir(root)


def test_provided_property_must_be_declared(make_release):
    root = make_release()
    spec = root / "jobs/web/spec"
    spec.write_text(spec.read_text().replace("properties: [web.port]", "properties: [web.port, web.nope]"))
    with pytest.raises(ReleaseError, match=r"provides/0/properties/1: property 'web.nope' is not declared"):
        read_release_dir(root)


def test_missing_final_yml(tmp_path):
    (tmp_path / "r").mkdir()
    with pytest.raises(ReleaseError, match=r"config/final.yml: file is missing"):
        read_release_dir(tmp_path / "r")
