"""The buildpack scripts themselves (bash, run directly on this machine with
``buildpacks.HostRunner``: the DEA itself runs them in staging containers, see
test_staging.py) and the DEA's buildpack logic: detect, compile, release, Procfile wins,
nothing detected, a Procfile that is a link is not read."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cf_platform.dea import buildpacks

from .helpers import BUILDPACKS


def run(script: str, *args: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BUILDPACKS / script), *map(str, args)], capture_output=True, text=True,
                          env=buildpacks.ENV, timeout=30)


def app(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "app"
    root.mkdir(parents=True)
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    return root


ALL = buildpacks.available(BUILDPACKS, ["python", "staticfile"])


def test_both_buildpacks_are_shipped_with_executable_scripts():
    assert [b.name for b in ALL] == ["python", "staticfile"]
    for pack in ALL:
        for script in ("detect", "compile", "release"):
            path = pack.script(script)
            assert path.is_file() and path.stat().st_mode & 0o111, path


@pytest.mark.parametrize("files, python, static", [
    ({"app.py": "print(1)"}, True, False),
    ({"server.py": "", "Procfile": "web: python3 server.py"}, True, False),
    ({"server.py": ""}, False, False),                       # *.py without a Procfile: no
    ({"index.html": "<h1>hi</h1>"}, False, True),
    ({"Staticfile": "root: public", "public/index.html": ""}, False, True),
    ({"README": "nothing to run"}, False, False),
])
def test_detect(tmp_path, files, python, static):
    root = app(tmp_path, files)
    py, st = run("python/bin/detect", root), run("staticfile/bin/detect", root)
    assert (py.returncode == 0, st.returncode == 0) == (python, static)
    if python:
        assert py.stdout.strip() == "python"
    if static:
        assert st.stdout.strip() == "staticfile"


def test_python_compile_and_release(tmp_path):
    root = app(tmp_path, {"app.py": "import os\n", "lib/util.py": "X = 1\n", "requirements.txt": "flask\n"})
    done = run("python/bin/compile", root, tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    assert "standard library only" in done.stdout and "NOT installed" in done.stdout
    assert list((root / "__pycache__").glob("app.*.pyc"))
    release = run("python/bin/release", root)
    assert buildpacks.parse_release(release.stdout) == {"web": "python3 app.py"}


def test_staticfile_release_serves_the_staticfile_root(tmp_path):
    root = app(tmp_path, {"Staticfile": "root: 'public'\n", "public/index.html": "hi"})
    assert run("staticfile/bin/compile", root, tmp_path / "cache").returncode == 0
    types = buildpacks.parse_release(run("staticfile/bin/release", root).stdout)
    assert types == {"web": "python3 -m http.server $PORT --bind 0.0.0.0 --directory public"}


def test_staticfile_root_must_exist_and_stay_inside(tmp_path):
    root = app(tmp_path, {"Staticfile": "root: missing\n"})
    done = run("staticfile/bin/compile", root, tmp_path / "cache")
    assert done.returncode != 0 and "not a directory" in done.stderr
    other = app(tmp_path / "x", {"Staticfile": "root: ../../etc\n", "index.html": ""})
    assert "--directory ." in run("staticfile/bin/release", other).stdout


def test_stage_python_app_with_default_command(tmp_path):
    root = app(tmp_path, {"app.py": "print('hi')"})
    log: list[str] = []
    staged = buildpacks.stage(ALL, root, buildpacks.HostRunner(root, tmp_path / "cache"), log)
    assert (staged.buildpack, staged.start_command) == ("python", "python3 app.py")
    assert any("Detected python" in line for line in log)


def test_procfile_web_line_wins(tmp_path):
    root = app(tmp_path, {"app.py": "", "Procfile": "worker: python3 w.py\nweb:  python3 app.py --fast \n"})
    staged = buildpacks.stage(ALL, root, buildpacks.HostRunner(root, tmp_path / "cache"), [])
    assert staged.start_command == "python3 app.py --fast"
    assert staged.process_types == {"web": "python3 app.py"}


def test_static_app(tmp_path):
    root = app(tmp_path, {"index.html": "<h1>hi</h1>"})
    staged = buildpacks.stage(ALL, root, buildpacks.HostRunner(root, tmp_path / "cache"), [])
    assert staged.buildpack == "staticfile"
    assert staged.start_command == "python3 -m http.server $PORT --bind 0.0.0.0 --directory ."


def test_python_wins_over_staticfile_by_order(tmp_path):
    root = app(tmp_path, {"app.py": "", "index.html": ""})
    assert buildpacks.stage(ALL, root, buildpacks.HostRunner(root, tmp_path / "cache"), []).buildpack == "python"


def test_nothing_detected(tmp_path):
    root = app(tmp_path, {"notes.txt": "hello"})
    with pytest.raises(buildpacks.BuildpackError) as error:
        buildpacks.stage(ALL, root, buildpacks.HostRunner(root, tmp_path / "cache"), [])
    assert str(error.value) == "None of the buildpacks detected a compatible application"


def test_requested_buildpack_skips_detect(tmp_path):
    root = app(tmp_path, {"app.py": "", "index.html": ""})
    assert buildpacks.stage(ALL, root, buildpacks.HostRunner(root, tmp_path / "cache"), [], requested="staticfile").buildpack == "staticfile"
    with pytest.raises(buildpacks.BuildpackError, match="not installed"):
        buildpacks.stage(ALL, root, buildpacks.HostRunner(root, tmp_path / "cache"), [], requested="ruby")


def test_python_app_without_app_py_needs_a_procfile_web_line(tmp_path):
    root = app(tmp_path, {"server.py": "", "Procfile": "worker: python3 server.py"})
    with pytest.raises(buildpacks.BuildpackError, match="no start command"):
        buildpacks.stage(ALL, root, buildpacks.HostRunner(root, tmp_path / "cache"), [])


@pytest.mark.parametrize("text, expected", [
    ("---\ndefault_process_types:\n  web: python3 app.py\n", {"web": "python3 app.py"}),
    ("default_process_types: {}\n", {}),
    ('---\nconfig_vars: {}\ndefault_process_types:\n  web: "python3 -u app.py"\n  worker: w\naddons: []\n',
     {"web": "python3 -u app.py", "worker": "w"}),
    ('{"default_process_types": {"web": "x"}}', {"web": "x"}),
])
def test_parse_release(text, expected):
    assert buildpacks.parse_release(text) == expected


def test_a_procfile_that_is_a_link_is_not_followed(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("web: echo the-secret-line\n")
    root = app(tmp_path, {"app.py": ""})
    (root / "Procfile").symlink_to(secret)
    assert buildpacks.procfile_web(root) is None
    assert buildpacks.stage(ALL, root, buildpacks.HostRunner(root, tmp_path / "cache"), []).start_command == \
        "python3 app.py"
