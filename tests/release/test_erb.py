"""ERB job templates: bosh-template's helpers and the errors a release author sees.

Rendered through the director's isolated worker (``render_isolated``), as a deploy does.
"""

from __future__ import annotations

import pytest

from bosh_py.release import RenderError, render_instance_jobs
from bosh_py.release.render import RenderedInstance

from .erb_support import DB_LINK, INSTANCE, conf, error, kv_job, render

PREFIX = "Unable to render templates: job 'kv' template 'kv.conf.erb'"


def test_p_reads_manifest_values_spec_defaults_explicit_defaults_and_first_set():
    props = {"kv": {"port": 7100, "users": {"alice": "a"}}}
    text = conf("<%= p('kv.port') %> <%= p('kv.tls.enabled') %> <%= p('kv.name', 'anon') %> "
                "<%= p(['kv.name', 'kv.port']) %> <%= p('kv.users')['alice'] %> <%= p('kv.name', nil).inspect %>",
                props)
    assert text == "7100 false anon 7100 a nil"
    assert conf("<%= p('kv.port') %>") == "7000"  # the spec default


def test_if_p_yields_every_value_or_runs_else():
    template = ("<% if_p('kv.name', 'kv.port') do |name, port| %>"
                "<%= name %>:<%= port %><% end.else do %>no name<% end %>")
    assert conf(template) == "no name"
    assert conf(template, {"kv": {"name": "main"}}) == "main:7000"
    assert conf("<% if_p('kv.name') do |n| %><%= n %><% end %>.", {"kv": {"name": "x"}}) == "x."


def test_spec_has_what_bosh_template_offers():
    text = conf("<%= spec.address %>|<%= spec.ip %>|<%= spec.az %>|<%= spec.bootstrap %>|<%= spec.deployment %>|"
                "<%= spec.id %>|<%= spec.index %>|<%= spec.name %>|<%= spec.networks.default.ip %>|"
                "<%= spec.networks.default.gateway %>|<%= spec.release.name %>/<%= spec.release.version %>|"
                "<%= spec.persistent_disk %>|<%= name %>/<%= index %>|<%= spec.nothing.inspect %>")
    assert text == ("10.244.3.5|10.244.3.5|z2|false|store|uuid-kv-1|0|kv|10.244.3.5|10.244.3.1|"
                    "kv-release/3+dev.2|1024|kv/0|nil")


def test_properties_is_the_merged_tree_old_style():
    assert conf("<%= properties.kv.port %> <%= properties.kv.tls.enabled %> <%= properties.kv.name.inspect %>",
                {"kv": {"port": 1}}) == "1 false nil"


def test_link_instances_properties_and_address():
    links = {"db": DB_LINK}
    text = conf("<% db = link('db') %><%= db.p('db.port') %> <%= db.p('db.missing', 'dflt') %> "
                "<%= db.properties['db']['user'] %> <%= db.address %> "
                "<% db.instances.each do |i| %>[<%= i.name %>/<%= i.index %> <%= i.id %> <%= i.az %> "
                "<%= i.address %> <%= i.bootstrap %> <%= i.p('db.port') %>]<% end %>"
                "<% db.if_p('db.user') do |u| %> user=<%= u %><% end %>"
                "<% db.if_p('db.nope') do |u| %> never<% end.else do %> else<% end %>", links=links)
    assert text == ("5432 dflt admin 10.244.3.9 [db/0 uuid-db-0 z1 10.244.3.9 true 5432]"
                    "[db/1 uuid-db-1 z2 10.244.3.10 false 5432] user=admin else")


def test_if_link_yields_the_link_or_runs_else():
    template = "<% if_link('db') do |db| %><%= db.instances.size %><% end.else do %>none<% end %>"
    assert conf(template, links={"db": DB_LINK}) == "2"
    assert conf(template) == "none"


def test_trim_mode_dash_as_bosh_uses():
    assert conf("a\n<%- if true -%>\nb\n<%- end -%>\nc\n") == "a\nb\nc\n"


def test_what_a_template_prints_does_not_reach_the_output_or_the_protocol():
    assert conf("<% puts 'noise'; $stderr.puts 'more'; print 'x' %>ok\n<%= 1 + 1 %>") == "ok\n2"


def test_writing_to_the_real_stdout_is_an_error_not_a_crash():
    assert error("a\n<% STDOUT.write('garbage') %>") == \
        f"{PREFIX}: the template wrote into the renderer's own output (STDOUT)"


def test_erb_and_jinja_templates_of_one_job_and_an_erb_monit_file():
    monit = "processes:\n<% if_p('kv.name') do |n| %>- name: <%= n %>\n  executable: /bin/<%= n %>\n<% end %>"
    [result] = render([kv_job("erb <%= p('kv.port') %>", ctl="#!/bin/sh\nexec kv -p <%= p('kv.port') %>\n",
                              props={"kv": {"name": "kvd"}}, monit=monit)])
    assert isinstance(result, RenderedInstance), result
    files = result.files["kv"]
    assert files == {"config/kv.conf": "erb 7000", "bin/ctl": "#!/bin/sh\nexec kv -p 7000\n",
                     "config/plain": "plain 7000\n", "monit": "processes:\n- name: kvd\n  executable: /bin/kvd\n"}


def test_the_same_templates_render_for_many_instances_in_order():
    results = render(*[[kv_job("<%= spec.index %>:<%= spec.bootstrap %>")] for _ in range(6)])
    assert [r.files["kv"]["config/kv.conf"] for r in results] == [f"{i}:false" for i in range(6)]


def test_in_process_render_renders_erb_too():
    rendered = render_instance_jobs([kv_job("<%= p('kv.port') %>")], INSTANCE, {})
    assert rendered.files["kv"]["config/kv.conf"] == "7000"


# -- errors name the job, the template and the line --------------------------------------------

def test_missing_property_is_bosh_templates_error_with_the_line():
    assert error("a\nb\n<%= p('kv.name') %>") == f"{PREFIX} line 3: Can't find property '[\"kv.name\"]'"
    assert error("<%= p(['kv.name', 'kv.password']) %>") == \
        f"{PREFIX} line 1: Can't find property '[\"kv.name\", \"kv.password\"]'"


def test_missing_link_and_missing_link_property():
    assert error("\n<%= link('db').address %>") == f"{PREFIX} line 2: Can't find link 'db'"
    assert error("<%= link('db').p('db.nope') %>", links={"db": DB_LINK}) == \
        f"{PREFIX} line 1: Can't find property '[\"db.nope\"]' in link 'db'"


def test_undefined_name_syntax_error_and_raise_name_their_line():
    assert error("ok\nok\n<%= foo %>\n") == f"{PREFIX} line 3: undefined local variable or method 'foo'"
    assert error("a\n<% if true %>\nb") == f"{PREFIX} line 3: syntax error, unexpected end-of-input, expecting 'end'"
    assert error("a\n\n\n<% raise 'port taken' %>") == f"{PREFIX} line 4: port taken"
    assert error("<%= nil.upcase %>") == f"{PREFIX} line 1: undefined method 'upcase' for nil"


def test_error_messages_never_show_property_values():
    message = error("<%= p('kv.users').no_such_method %>", {"kv": {"users": {"admin": "s3cret-pw"}}})
    assert message == f"{PREFIX} line 1: undefined method 'no_such_method' for an instance of Hash"
    message = error("<%= self.nope %>", {"kv": {"password": "s3cret-pw"}})
    assert "s3cret-pw" not in message and "undefined method 'nope' for the template" in message


def test_every_problem_of_every_template_is_listed_once():
    [result] = render([kv_job("<%= p('kv.name') %>", ctl="<%= bad %>", plain="{{ nope }}")])
    assert isinstance(result, RenderError)
    assert result.errors == ["job 'kv' template 'ctl.erb' line 1: undefined local variable or method 'bad'",
                             "job 'kv' template 'kv.conf.erb' line 1: Can't find property '[\"kv.name\"]'",
                             "job 'kv' template 'plain.j2' line 1: 'nope' is undefined"]


def test_monit_erb_error_names_the_monit_file():
    [result] = render([kv_job("x", monit="<%= p('kv.name') %>")])
    assert str(result) == "Unable to render templates: job 'kv' monit line 1: Can't find property '[\"kv.name\"]'"


def test_missing_ruby_is_a_clear_error(monkeypatch, tmp_path):
    from bosh_py.release.erb import sandbox

    monkeypatch.setitem(sandbox.RUBY_ENV, "PATH", str(tmp_path))
    with pytest.raises(RenderError, match=r"ERB templates need 'ruby' on the director host \(Debian package 'ruby'"):
        render_instance_jobs([kv_job("<%= 1 %>")], INSTANCE, {})


def test_the_directors_render_step_gives_each_job_its_release():
    """Through ``release_store.render_instances``, the call a deploy makes."""
    import asyncio
    from types import SimpleNamespace

    from bosh_py.director.planner import JobPlan
    from bosh_py.director.release_store import render_instances
    from bosh_py.release.tarball import JobArchive

    job = kv_job("<%= spec.release.name %>/<%= spec.release.version %> <%= p('kv.port') %>")
    archive = JobArchive(job.name, job.spec, job.monit, job.templates)
    group = SimpleNamespace(name="kv", jobs=[JobPlan("kv", "kv-release", {"kv": {"port": 1}}, {}, {})])
    rendered = asyncio.run(render_instances({("kv-release", "kv"): archive}, [(group, dict(INSTANCE, index=0), {})],
                                            {"kv-release": "7.1"}))
    assert rendered[("kv", 0)].files["kv"]["config/kv.conf"] == "kv-release/7.1 1"
