"""Classic monit files as BOSH releases ship them: what is parsed, what is ignored, what is
refused (with the job, file and line), and both formats detected per file."""

from __future__ import annotations

import pytest

from bosh_py.agent.errors import AgentActionError
from bosh_py.agent.monit_classic import (
    MonitProgram,
    is_classic,
    parse_classic,
    start_order,
)
from bosh_py.agent.monitfile import (
    ProcessSpec,
    load_job_processes,
    monit_problem,
    parse_monit,
)

# nats-release (bpm), written as it ships
NATS = """check process nats
  with pidfile /var/vcap/sys/run/bpm/nats/nats.pid
  start program "/var/vcap/jobs/bpm/bin/bpm start nats"
  stop program "/var/vcap/jobs/bpm/bin/bpm stop nats"
  group vcap
"""

# an older, ctl-script release with every optional clause
OLD_STYLE = """# monit for the kv job
check process kv
  with pidfile /var/vcap/sys/run/kv/kv.pid
  start program "/var/vcap/jobs/kv/bin/kv_ctl start" as uid vcap and gid vcap
      with timeout 60 seconds
  stop program = "/var/vcap/jobs/kv/bin/kv_ctl stop" with timeout 15 seconds
  group vcap
  depends on kv_helper, kv_logger
  if failed host 127.0.0.1 port 8080 protocol http
     and request "/health" with timeout 5 seconds for 3 cycles then restart
  if totalmem > 3000 Mb for 3 cycles then alert else if succeeded then alert
  if 5 restarts within 5 cycles then timeout
  mode manual
  every 2 cycles

check process kv_helper with pidfile /var/vcap/sys/run/kv/helper.pid
  start program '/bin/sh -c "echo $HOME; exec sleep 1"'
"""


def test_a_real_bpm_monit_file():
    [c] = parse_classic("nats", NATS)
    assert (c.name, c.pidfile, c.groups, c.line) == ("nats", "/var/vcap/sys/run/bpm/nats/nats.pid", ("vcap",), 1)
    assert c.start == MonitProgram(("/var/vcap/jobs/bpm/bin/bpm", "start", "nats"), None, None, 30.0)
    assert c.stop.argv == ("/var/vcap/jobs/bpm/bin/bpm", "stop", "nats")


def test_every_clause_of_an_old_style_file():
    kv, helper = parse_classic("kv", OLD_STYLE)
    assert kv.start == MonitProgram(("/var/vcap/jobs/kv/bin/kv_ctl", "start"), "vcap", "vcap", 60.0)
    assert kv.stop == MonitProgram(("/var/vcap/jobs/kv/bin/kv_ctl", "stop"), None, None, 15.0)
    assert kv.depends_on == ("kv_helper", "kv_logger") and kv.groups == ("vcap",)
    assert kv.ignored == ("line 9: if ... then ...", "line 11: if ... then ...",
                          "line 12: if ... then ...", "line 13: mode manual", "line 14: every")
    # monit splits the quoted string into argv (no shell): quotes group, $HOME stays literal
    assert helper.start.argv == ("/bin/sh", "-c", "echo $HOME; exec sleep 1")
    assert helper.stop is None and helper.line == 16


@pytest.mark.parametrize("text, line, message", [
    ("check file cfg with path /etc/x\n", 1, "'check file' is not supported"),
    ("check process a with pidfile /a.pid\n  start program \"/a\"\ncheck host h with address 127.0.0.1\n",
     3, "'check host' is not supported"),
    ("check process a\n  start program \"/a start\"\n", 1, "'with pidfile PATH' is required"),
    ("check process a\n  with pidfile /a.pid\n  stop program \"/a stop\"\n", 1, "'start program \"...\"' is required"),
    ("check process a\n  with pidfile /a.pid\n  start program /a\n", 3, "expected a quoted command"),
    ("check process a\n  with pidfile /a.pid\n  start program \"a start\"\n", 3, "needs an absolute path"),
    ("check process a\n  with pidfile /a.pid\n  start program \"/a\n", 3, "unterminated string"),
    ("check process a\n  with pidfile a.pid\n", 2, "expected an absolute path"),
    ("check process a matching \"a\"\n", 1, "finds a process by its pidfile"),
    ("check process a\n  with pidfile /a.pid\n  start program \"/a\" with timeout soon\n", 3,
     "expected a positive number"),
    ("check process a\n  with pidfile /a.pid\n  start program \"/a\"\n  restrat program \"/a\"\n", 4,
     "unexpected 'restrat'"),
    ("check process a\n  with pidfile /a.pid\n  start program \"/a\"\n  if failed port 1\n", 4, "unexpected end"),
    ("check process a\n  with pidfile /a.pid\n  start program \"/a\"\n  if failed port 1 then reboot\n", 4,
     "unknown action 'reboot'"),
    ("check process a\n  with pidfile /a.pid\n  start program \"/a\"\n  depends on a\n", 1, "depends on itself"),
    (("check process a with pidfile /a.pid start program \"/a\"\n"
      "check process a with pidfile /b.pid start program \"/b\"\n"), 2, "already defined on line 1"),
    ("set daemon 10\n", 1, "'set' statements belong to the VM"),
])
def test_malformed_files_name_the_job_file_and_line(text, line, message):
    with pytest.raises(AgentActionError) as e:
        parse_monit("kv", text, "/var/vcap/jobs/kv/monit")
    assert str(e.value).startswith(f"Job kv: /var/vcap/jobs/kv/monit line {line}: "), str(e.value)
    assert message in str(e.value)


def test_format_is_detected_per_file():
    assert is_classic("# comment\n\n  CHECK PROCESS x\n") and not is_classic("processes: []\n")
    assert not is_classic("") and not is_classic("# only a comment\n")
    [yaml_proc] = parse_monit("web", "processes:\n- name: web\n  executable: /bin/web\n")
    assert isinstance(yaml_proc, ProcessSpec)
    assert parse_monit("empty", "") == []
    with pytest.raises(AgentActionError, match="or start with 'check process'"):
        parse_monit("web", "- just a list\n")


def test_the_director_check_accepts_both_formats():
    assert monit_problem(NATS) is None
    assert monit_problem("processes: []\n") is None
    assert monit_problem("check process a\n  start program \"/a\"\n") == \
        "line 1: check process a: 'with pidfile PATH' is required"


def _install(jobs, job, text):
    (jobs / job).mkdir(parents=True)
    (jobs / job / "monit").write_text(text)


def test_depends_on_orders_starts_across_jobs(tmp_path):
    jobs = tmp_path / "jobs"
    _install(jobs, "a", 'check process web with pidfile /w.pid start program "/w" depends on db, cache\n')
    _install(jobs, "b", 'check process db with pidfile /d.pid start program "/d"\n'
                        'check process cache with pidfile /c.pid start program "/c" depends on db\n')
    checks = load_job_processes(jobs)
    assert [[c.name for c in layer] for layer in start_order(checks)] == [["db"], ["cache"], ["web"]]


@pytest.mark.parametrize("a, b, message", [
    ('check process web with pidfile /w.pid start program "/w" depends on nothere\n', "",
     "Job a: monit line 1: check process web depends on 'nothere', which no job's monit file defines"),
    ('check process x with pidfile /x.pid start program "/x" depends on y\n',
     'check process y with pidfile /y.pid start program "/y" depends on x\n', "dependency cycle x -> y -> x"),
    ('check process x with pidfile /x.pid start program "/x"\n',
     'check process x with pidfile /y.pid start program "/y"\n',
     "Job b: monit line 1: check process x is already defined by job a"),
])
def test_dependencies_and_names_are_checked_across_jobs(tmp_path, a, b, message):
    jobs = tmp_path / "jobs"
    _install(jobs, "a", a)
    _install(jobs, "b", b)
    with pytest.raises(AgentActionError) as e:
        load_job_processes(jobs)
    assert message in str(e.value)


def test_the_director_renders_a_classic_monit_file_and_refuses_a_bad_one():
    """Through the director's renderer: the same parser refuses a bad file before any VM
    changes, naming the job and the line."""
    from bosh_py.release import JobForRender, JobSpec, RenderError, render_instance_jobs
    spec = JobSpec.model_validate({"name": "kv", "templates": {}, "properties": {"kv.port": {"default": 7}}})
    instance = {"deployment": "d", "name": "kv", "id": "u", "index": 0, "az": "z1", "bootstrap": True,
                "networks": {"default": {"ip": "10.0.0.2", "netmask": "255.0.0.0", "gateway": "10.0.0.1"}},
                "job": {"name": "kv", "templates": [{"name": "kv", "version": "x"}]}}
    rendered = render_instance_jobs([JobForRender("kv", spec, NATS, {}, {})], instance, {})
    assert rendered.files["kv"]["monit"] == NATS
    bad = NATS.replace("group vcap", "if failed port 1 then reboot")
    with pytest.raises(RenderError) as e:
        render_instance_jobs([JobForRender("kv", spec, bad, {}, {})], instance, {})
    assert "job 'kv' monit: line 5: unknown action 'reboot' after 'then'" in str(e.value)
    with pytest.raises(RenderError, match="job 'kv' monit: line 1: 'check host' is not supported"):
        render_instance_jobs([JobForRender("kv", spec, "check host h with address 127.0.0.1\n", {}, {})],
                             instance, {})
