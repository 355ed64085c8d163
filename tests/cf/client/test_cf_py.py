"""The `cf-py` command, run as users run it, against a real cloud controller process."""

from __future__ import annotations

import stat

from tests.cf.client.conftest import CfPy
from tests.cf.cc.plumbing import eventually


def test_login_saves_a_private_config(tmp_path, cc):
    cf = CfPy(tmp_path / "conf" / "config.json", tmp_path)
    out = cf.ok("api", cc.url)
    assert "Not logged in" in out
    bad = cf("login", "-u", "admin", "-p", "wrong")
    assert bad.returncode == 1 and "Login failed: Bad credentials" in bad.stderr
    cf.ok("login", "-u", "admin", "-p", "admin-secret")
    assert stat.S_IMODE((tmp_path / "conf" / "config.json").stat().st_mode) == 0o600
    assert "admin" in cf.ok("api")


def test_login_takes_the_password_from_the_environment_not_argv(tmp_path, cc):
    """`ps` shows argv to every user of the machine: CF_PY_PASSWORD keeps the password out of it."""
    cf = CfPy(tmp_path / "config.json", tmp_path)
    cf.ok("api", cc.url)
    wrong = cf("login", "-u", "admin", env={"CF_PY_PASSWORD": "wrong"})
    assert wrong.returncode == 1 and "Bad credentials" in wrong.stderr
    out = cf.ok("login", "-u", "admin", env={"CF_PY_PASSWORD": "admin-secret"})  # no prompt: stdin is empty
    assert "admin-secret" not in out
    assert "admin" in cf.ok("api")


def test_commands_need_a_target_and_a_login(tmp_path, cc):
    cf = CfPy(tmp_path / "none.json", tmp_path)
    r = cf("apps")
    assert r.returncode == 1 and "No API endpoint set" in r.stderr
    cf.ok("api", cc.url)
    r = cf("apps")
    assert r.returncode == 1 and "Not logged in" in r.stderr
    unreachable = cf("api", "http://127.0.0.1:1")
    assert unreachable.returncode == 1 and "Cannot reach" in unreachable.stderr


def test_a_bad_token_is_a_clear_error(cf):
    import json
    conf = json.loads(cf.config.read_text())
    conf["token"] = "forged.token.here"
    cf.config.write_text(json.dumps(conf))
    r = cf("apps")
    assert r.returncode == 1 and "Not logged in, or the token expired" in r.stderr


def test_push_scale_logs_stop_start_restart_delete(cf, dea, app_dir):
    out = cf.ok("push", "hello", "-p", str(app_dir), "-i", "2", "-m", "96M")
    assert "Creating app hello" in out and "Binding hello.apps.test" in out
    assert "Uploading hello (2 files" in out            # __pycache__ left out
    guid = dea.starts[0]["droplet"]
    assert f"Python app detected in the bits of {guid}" in out   # the DEA's staging log is shown
    assert "2 of 2 instances running" in out and "App hello is running: http://hello.apps.test" in out
    assert sorted(s["index"] for s in dea.starts) == [0, 1] and dea.starts[0]["limits"]["mem"] == 96

    apps = cf.ok("apps")
    assert "hello" in apps and "2/2" in apps and "hello.apps.test" in apps
    app = cf.ok("app", "hello")
    assert "running" in app
    for instance in dea.live(guid):   # each instance's own memory use, of the 96M pushed
        assert f"{instance.usage_mem / 2 ** 20:.1f}M of 96.0M" in app, app

    out = cf.ok("scale", "hello", "-i", "3")
    assert "3 instances" in out and "3 of 3 instances running" in out
    eventually(lambda: len(dea.live()) == 3)
    cf.ok("scale", "hello", "-i", "1")
    eventually(lambda: len(dea.live()) == 1)

    logs = cf.ok("logs", "hello", "--recent")
    [only] = dea.live(guid)
    assert f"[APP/0] OUT {only.log_line().strip()}" in logs

    assert "Stopped hello" in cf.ok("stop", "hello")
    eventually(lambda: dea.live() == [])
    assert "App hello is running" in cf.ok("start", "hello")
    eventually(lambda: len(dea.live()) == 1)
    assert "App hello is running" in cf.ok("restart", "hello")

    # pushing again updates the same app (stop, new bits, restage, start)
    out = cf.ok("push", "hello", "-p", str(app_dir))
    assert "Updating app hello" in out and "1 of 1 instances running" in out
    assert len(dea.stagings) == 2

    assert "Deleted app hello" in cf.ok("delete", "hello", "-f")
    assert "No apps" in cf.ok("apps")
    eventually(lambda: dea.live() == [])
    missing = cf("app", "hello")
    assert missing.returncode == 1 and "App hello not found" in missing.stderr


def test_delete_asks_first(cf, app_dir):
    cf.ok("push", "hello", "-p", str(app_dir), "--no-start")
    out = cf.ok("delete", "hello", input="n\n")
    assert "Delete cancelled" in out
    assert "hello" in cf.ok("apps")


def test_staging_failure_shows_the_log_and_exits_1(cf, tmp_path, dea):
    d = tmp_path / "static"
    d.mkdir()
    (d / "README.txt").write_text("not an app")
    r = cf("push", "nothing", "-p", str(d))
    assert r.returncode == 1
    assert "None of the buildpacks detected a compatible application" in r.stdout
    assert "Staging failed" in r.stderr and "App nothing was stopped" in r.stderr
    assert dea.starts == []


def test_an_app_that_crashes_at_start_fails_the_push(cf, dea, app_dir):
    dea.crash_on_start = "app exited: ImportError: no module named flask"
    r = cf("push", "crashy", "-p", str(app_dir))
    assert r.returncode == 1
    assert "Instance 0 of crashy crashed: app exited: ImportError: no module named flask" in r.stderr
    assert dea.crashed and f"Traceback: boom in {dea.crashed[0]}" in r.stderr   # its own last output
    assert "App crashy was stopped" in r.stderr
    eventually(lambda: {"droplet": dea.starts[0]["droplet"]} in dea.stops)


def test_bad_input_is_refused_clearly(cf, tmp_path, app_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = cf("push", "x", "-p", str(empty))
    assert r.returncode == 1 and "has no files to push" in r.stderr
    r = cf("push", "x", "-p", str(app_dir), "-m", "lots")
    assert r.returncode == 1 and "Invalid memory" in r.stderr
    cf.ok("push", "hello", "-p", str(app_dir), "--no-start")
    r = cf("scale", "hello", "-i", "-2")
    assert r.returncode == 1 and "instances less than 0" in r.stderr and "CF-AppInvalid" in r.stderr
    r = cf("scale", "nope", "-i", "2")
    assert r.returncode == 1 and "App nope not found" in r.stderr
