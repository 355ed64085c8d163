"""Template rendering: p/if_p/spec/link, errors naming job, template and property."""

from __future__ import annotations

import io
import tarfile

import pytest

from bosh_py.release import (JobForRender, JobSpec, RenderError, link_from_provider, render_instance_jobs,
                             validate_job_properties)

SPEC = JobSpec.model_validate({
    "name": "web",
    "templates": {"conf.j2": "config/web.conf", "ctl.j2": "bin/ctl"},
    "properties": {
        "web.port": {"default": 8080, "type": "integer"},
        "web.name": {"type": "string"},
        "web.debug": {"default": False},
        "web.tags": {"type": "array"},
        "web.limits": {"type": "hash"},
        "web.ratio": {"type": "number"},
        "web.cert": {"type": "certificate"},
        "web.workers": {"default": 4},
    },
    "consumes": [{"name": "peers", "type": "web", "optional": True}],
    "provides": [{"name": "web", "type": "web", "properties": ["web.port", "web.name"]}],
})
MONIT = "processes:\n- name: web\n  executable: /var/vcap/jobs/web/bin/ctl\n"
INSTANCE = {"deployment": "dep", "name": "web", "id": "uuid-1", "index": 1, "az": "z1", "bootstrap": False,
            "networks": {"default": {"ip": "10.244.0.3", "netmask": "255.255.0.0", "gateway": "10.244.0.1",
                                     "default": ["dns", "gateway"]}},
            "job": {"name": "web", "templates": [{"name": "web", "version": "x"}]}}


def job(conf: str, ctl: str = "#!/bin/sh\necho {{ p('web.port') }}\n", props=None, monit=MONIT) -> JobForRender:
    return JobForRender("web", SPEC, monit, {"conf.j2": conf, "ctl.j2": ctl}, props or {})


def conf(template: str, props=None, links=None, instance=INSTANCE) -> str:
    return render_instance_jobs([job(template, props=props)], instance, links).files["web"]["config/web.conf"]


def test_p_manifest_value_default_and_explicit_default():
    assert conf("{{ p('web.port') }}") == "8080"
    assert conf("{{ p('web.port') }}", {"web": {"port": 9000}}) == "9000"
    assert conf("{{ p('web.port') }}", {"web.port": 9001}) == "9001"  # flat keys work too
    assert conf("{{ p('web.name', 'anon') }}") == "anon"
    assert conf("{{ p(['web.name', 'web.port']) }}") == "8080"
    assert conf("{{ p('web') }}", {"web": {"name": "n"}})\
        == str({"debug": False, "name": "n", "port": 8080, "workers": 4})


def test_missing_property_names_job_template_and_property():
    with pytest.raises(RenderError) as e:
        render_instance_jobs([job("a\n{{ p('web.name') }}\n")], INSTANCE, {})
    assert str(e.value) == ("Unable to render templates: job 'web' template 'conf.j2' line 2: "
                            "Can't find property 'web.name'")
    with pytest.raises(RenderError, match=r"Can't find property 'web.undeclared'"):
        conf("{{ p('web.undeclared') }}", {"web": {"undeclared": 1}})  # only declared properties are visible


def test_all_errors_are_collected():
    with pytest.raises(RenderError) as e:
        render_instance_jobs([job("{{ p('web.name') }}", ctl="{{ nope }}", monit="processes: [{name: x}]")],
                             INSTANCE, {})
    assert len(e.value.errors) == 3
    text = str(e.value)
    assert "template 'conf.j2' line 1: Can't find property 'web.name'" in text
    assert "template 'ctl.j2' line 1: 'nope' is undefined" in text
    assert "job 'web' monit: processes/0/executable: a string is required" in text


def test_syntax_error_has_line():
    with pytest.raises(RenderError, match=r"template 'conf.j2' line 2: .*"):
        conf("ok\n{% if %}\n")


def test_if_p_and_has_p():
    t = "{% for n in if_p('web.name') %}name={{ n }}{% else %}no name{% endfor %}"
    assert conf(t) == "no name"
    assert conf(t, {"web": {"name": "x"}}) == "name=x"
    t = "{% for n, port in if_p('web.name', 'web.port') %}{{ n }}:{{ port }}{% endfor %}"
    assert conf(t, {"web": {"name": "x"}}) == "x:8080"
    assert conf("{% if if_p('web.debug') %}set{% endif %}") == "set"  # false is still set
    assert conf("{{ has_p('web.name') }} {{ has_p('web.port') }}") == "False True"
    assert conf("{% if if_p('web.name') %}y{% else %}n{% endif %}", {"web": {"name": None}}) == "n"


def test_spec_object():
    t = ("{{ spec.deployment }} {{ spec.name }} {{ spec.id }} {{ spec.index }} {{ spec.az }} {{ spec.ip }} "
         "{{ spec.address }} {{ spec.bootstrap }} {{ spec.job.name }} {{ spec.networks.default.gateway }}")
    assert conf(t) == "dep web uuid-1 1 z1 10.244.0.3 10.244.0.3 False web 10.244.0.1"
    assert conf("{{ spec.address }}", instance={**INSTANCE, "address": "web-1.internal"}) == "web-1.internal"


def test_links():
    peers = [{"name": "web", "id": f"id{i}", "index": i, "az": "z1", "address": f"10.0.0.{i}",
              "bootstrap": i == 0} for i in range(3)]
    link = link_from_provider(SPEC, {"web": {"name": "peer"}}, "web", peers)
    assert link["properties"] == {"web": {"port": 8080, "name": "peer"}}
    links = {"web": {"peers": link}}
    t = ("{% for i in link('peers').instances %}{{ i.address }}:{{ link('peers').p('web.port') }}"
         "/{{ i.index }}{{ '*' if i.bootstrap else '' }} {% endfor %}{{ link('peers').address }}"
         " {{ link('peers').p('web.name') }} {{ link('peers').p('web.debug', 'dflt') }}")
    assert conf(t, links=links) == "10.0.0.0:8080/0* 10.0.0.1:8080/1 10.0.0.2:8080/2 10.0.0.0 peer dflt"
    assert conf("{% if if_link('peers') %}yes{% else %}no{% endif %}") == "no"
    assert conf("{% for l in if_link('peers') %}{{ l.instances | length }}{% endfor %}", links=links) == "3"
    with pytest.raises(RenderError, match=r"Can't find link 'peers'"):
        conf("{{ link('peers').address }}")
    with pytest.raises(RenderError, match=r"Can't find link property 'web.debug' in link 'peers'"):
        conf("{{ link('peers').p('web.debug') }}", links=links)
    # the director's flat form: properties keyed by dotted name
    flat = {"web": {"peers": {"instances": peers, "properties": {"web.port": 81}, "address": "10.0.0.0"}}}
    assert conf("{{ link('peers').p('web.port') }}", links=flat) == "81"


def test_archive_layout_modes_and_digests():
    rendered = render_instance_jobs([job("port={{ p('web.port') }}\n")], INSTANCE, {})
    with tarfile.open(fileobj=io.BytesIO(rendered.archive)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert tar.extractfile("web/config/web.conf").read() == b"port=8080\n"
        assert tar.extractfile("web/monit").read().decode() == MONIT
    assert members["web/bin/ctl"].mode == 0o755
    assert members["web/config/web.conf"].mode == 0o644 and members["web/monit"].mode == 0o644
    again = render_instance_jobs([job("port={{ p('web.port') }}\n")], INSTANCE, {})
    assert again.archive == rendered.archive and again.sha256 == rendered.sha256
    assert again.job_digests == rendered.job_digests and rendered.job_digests["web"].startswith("sha256:")
    changed = render_instance_jobs([job("port={{ p('web.port') }}\n", props={"web": {"port": 1}})], INSTANCE, {})
    assert changed.job_digests["web"] != rendered.job_digests["web"]
    assert changed.configuration_hash != rendered.configuration_hash


def test_monit_is_rendered():
    monit = "processes:\n- name: web\n  executable: /bin/web\n  args: ['{{ p(\"web.port\") }}']\n"
    rendered = render_instance_jobs([job("x", monit=monit)], INSTANCE, {})
    assert "args: ['8080']" in rendered.files["web"]["monit"]


def test_sandbox_blocks_python_internals():
    with pytest.raises(RenderError, match="unsafe|not safely|access"):
        conf("{{ ''.__class__.__mro__ }}")
    with pytest.raises(RenderError):
        conf("{% set _ = spec.update({'name': 'x'}) %}")


def test_property_type_validation():
    errors = validate_job_properties(SPEC, {"web": {
        "port": "4222", "name": 5, "debug": "yes", "tags": "a", "limits": [], "ratio": 1, "cert": 3,
        "workers": True}}, "instance_groups/web/jobs/0/properties")
    assert errors == [
        "instance_groups/web/jobs/0/properties/web.debug: expected boolean",
        "instance_groups/web/jobs/0/properties/web.limits: expected hash",
        "instance_groups/web/jobs/0/properties/web.name: expected string",
        "instance_groups/web/jobs/0/properties/web.port: expected integer",
        "instance_groups/web/jobs/0/properties/web.tags: expected array",
        "instance_groups/web/jobs/0/properties/web.workers: expected integer",
    ]
    ok = {"web": {"port": 1, "name": "n", "debug": True, "tags": [], "limits": {}, "ratio": 1.5, "workers": 2}}
    assert validate_job_properties(SPEC, ok, "p") == []
    assert validate_job_properties(SPEC, {}, "p") == []
    assert validate_job_properties(SPEC, None, "p") == []


def test_plain_dict_specs_are_accepted():
    raw = SPEC.model_dump()
    assert validate_job_properties(raw, {"web": {"port": "x"}}, "p") == ["p/web.port: expected integer"]
    rendered = render_instance_jobs([JobForRender("web", raw, MONIT, {"conf.j2": "{{ p('web.port') }}",
                                                                       "ctl.j2": ""}, None)], INSTANCE, {})
    assert rendered.files["web"]["config/web.conf"] == "8080"


def test_destinations_escaping_the_job_directory_are_refused():
    bad = SPEC.model_copy(update={"templates": {"conf.j2": "../../etc/cron.d/x", "ctl.j2": "bin/ctl"}})
    with pytest.raises(RenderError, match=r"template 'conf.j2': destination '../../etc/cron.d/x' must be a relative"):
        render_instance_jobs([JobForRender("web", bad, MONIT, {"conf.j2": "x", "ctl.j2": ""})], INSTANCE, {})


# --- rendering in a bounded worker process (what the director uses) ---------------------

def render_bounded(*confs: str, limits=None):
    import asyncio

    from bosh_py.release.isolated_render import RenderLimits, render_isolated
    from bosh_py.release.render_worker import RenderRequest

    requests = [RenderRequest([job(c)], dict(INSTANCE, index=i), {}) for i, c in enumerate(confs)]
    return asyncio.run(render_isolated(requests, limits or RenderLimits(seconds=2)))


def test_bounded_render_gives_the_same_result_per_instance_in_order():
    first, second = render_bounded("{{ spec.index }}", "{{ p('web.port') }}")
    assert first.files["web"]["config/web.conf"] == "0" and second.files["web"]["config/web.conf"] == "8080"
    assert first.sha256 == render_instance_jobs([job("{{ spec.index }}")], dict(INSTANCE, index=0)).sha256
    [big] = render_bounded("{{ 'x' * 5000000 }}")  # well inside the limits, and more than a pipe's buffer
    assert len(big.files["web"]["config/web.conf"]) == 5000000


def test_bounded_render_reports_template_errors_like_the_in_process_render():
    [error] = render_bounded("a\n{{ p('web.name') }}\n")
    assert isinstance(error, RenderError)
    assert str(error) == ("Unable to render templates: job 'web' template 'conf.j2' line 2: "
                          "Can't find property 'web.name'")


def test_endless_template_is_stopped_and_named():
    import time

    loop = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
    started = time.monotonic()
    ok, looping, after = render_bounded("fine", loop, "never reached")
    assert time.monotonic() - started < 10
    assert ok.files["web"]["config/web.conf"] == "fine"
    assert str(looping) == ("Unable to render templates: job 'web' template 'conf.j2' line 1: "
                            "rendering took longer than 2 s")
    assert isinstance(after, RenderError) and "not rendered" in str(after)


def test_template_stuck_where_the_alarm_cannot_reach_is_killed():
    """A huge power runs in C, where Python's signal handler waits: the director kills
    the worker a few seconds past the limit instead, and still names the template."""
    [stuck] = render_bounded("{% set x = 7 ** 30000000 %}done")
    assert isinstance(stuck, RenderError)
    assert "job 'web' template 'conf.j2'" in str(stuck) and "rendering took longer than 2 s" in str(stuck)


def test_memory_hungry_template_is_stopped_and_named():
    [hog] = render_bounded("ok\n{{ ('x' * 2 ** 29) | length }}")
    assert str(hog) == ("Unable to render templates: job 'web' template 'conf.j2' line 2: "
                        "rendering used more than 256 MiB")
    [hog] = render_bounded("{{ '%0999999999d' % 1 }}")  # string formatting, the other way to a huge string
    assert "rendering used more than 256 MiB" in str(hog)


def test_sandbox_still_applies_in_the_worker():
    [escape] = render_bounded("{{ spec.__class__.__mro__ }}")
    assert isinstance(escape, RenderError) and "unsafe" in str(escape)
    [endless] = render_bounded("{% for x in range(10**12) %}{% endfor %}")
    assert isinstance(endless, RenderError) and "Range too big" in str(endless)
