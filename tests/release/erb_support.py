"""A job with ERB templates and a way to render it as the director does (the isolated worker)."""

from __future__ import annotations

import asyncio
from typing import Any

from bosh_py.release import JobForRender, JobSpec, RenderError
from bosh_py.release.isolated_render import RenderLimits, render_isolated
from bosh_py.release.render import RenderedInstance
from bosh_py.release.render_worker import RenderRequest

SPEC = {
    "name": "kv",
    "templates": {"kv.conf.erb": "config/kv.conf", "ctl.erb": "bin/ctl", "plain.j2": "config/plain"},
    "properties": {
        "kv.port": {"default": 7000},
        "kv.name": {},
        "kv.password": {},
        "kv.users": {},
        "kv.tls.enabled": {"default": False},
    },
    "consumes": [{"name": "db", "type": "db", "optional": True}],
}
MONIT = "processes:\n- name: kv\n  executable: /var/vcap/jobs/kv/bin/ctl\n"
INSTANCE: dict[str, Any] = {
    "deployment": "store", "name": "kv", "id": "uuid-kv-1", "index": 1, "az": "z2", "bootstrap": False,
    "persistent_disk": 1024,
    "networks": {"default": {"ip": "10.244.3.5", "netmask": "255.255.255.0", "gateway": "10.244.3.1",
                             "default": ["dns", "gateway"]}},
}
DB_LINK = {"name": "db", "type": "db", "deployment": "store",
           "properties": {"db": {"port": 5432, "user": "admin"}},
           "instances": [{"name": "db", "id": "uuid-db-0", "index": 0, "az": "z1", "address": "10.244.3.9",
                          "bootstrap": True},
                         {"name": "db", "id": "uuid-db-1", "index": 1, "az": "z2", "address": "10.244.3.10",
                          "bootstrap": False}]}


def kv_job(conf: str, ctl: str = "#!/bin/sh\n", plain: str = "plain {{ p('kv.port') }}\n",
           props: dict | None = None, monit: str = MONIT, name: str = "kv") -> JobForRender:
    spec = JobSpec.model_validate(dict(SPEC, name=name))
    return JobForRender(name, spec, monit, {"kv.conf.erb": conf, "ctl.erb": ctl, "plain.j2": plain},
                        props or {}, {"name": "kv-release", "version": "3+dev.2"})


def render(*jobs_per_instance: list[JobForRender], links: dict | None = None, instance: dict | None = None,
           seconds: float = 2.0) -> list[RenderedInstance | RenderError]:
    """Render each list of jobs as one instance (index 0, 1, ...) through the director's worker."""
    base = instance or INSTANCE
    requests = [RenderRequest(jobs, dict(base, index=i), {job.name: links or {} for job in jobs})
                for i, jobs in enumerate(jobs_per_instance)]
    return asyncio.run(render_isolated(requests, RenderLimits(seconds=seconds)))


def conf(template: str, props: dict | None = None, links: dict | None = None) -> str:
    """The rendered config/kv.conf of one instance (index 0); fails the test on a RenderError."""
    [result] = render([kv_job(template, props=props)], links=links)
    assert isinstance(result, RenderedInstance), result
    return result.files["kv"]["config/kv.conf"]


def error(template: str, props: dict | None = None, links: dict | None = None, seconds: float = 2.0) -> str:
    """The RenderError message for one instance whose config/kv.conf is ``template``."""
    [result] = render([kv_job(template, props=props)], links=links, seconds=seconds)
    assert isinstance(result, RenderError), result
    return str(result)
