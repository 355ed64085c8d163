"""The cloud controller's view of an app while a DEA evacuates: an EVACUATING instance (still
serving on a draining DEA) is accepted from the DEAs' find replies and shown for its index
over a crashed or starting one, and a RUNNING replacement is shown over it. Real CC and
nats-server; the DEA stand-in answers dea.find.droplet."""

from __future__ import annotations

import time

import httpx

from tests.cf.cc.plumbing import eventually
from tests.cf.cc.test_lifecycle import app_entity, push


def set_states(dea, guid: str, index: int, states: list[str]) -> None:
    """Replace the stand-in's instances of ``index`` by one instance in each of ``states``."""
    template = next(i for i in dea.instances.values() if i.droplet == guid and i.index == index)
    with dea._lock:
        for key in [k for k, i in dea.instances.items() if i.droplet == guid and i.index == index]:
            del dea.instances[key]
    for n, state in enumerate(states):
        copy = type(template)(**{**template.__dict__, "instance": f"{template.instance[:20]}-{n}",
                                 "state": state, "since": time.time() - n})
        with dea._lock:
            dea.instances[copy.instance] = copy


def shown_state(cc, auth, guid: str, index: int) -> str:
    response = httpx.get(cc.url + f"/v2/apps/{guid}/instances", headers=auth)
    response.raise_for_status()
    return response.json()[str(index)]["state"]


def test_instances_show_evacuating_over_crashed_and_running_over_evacuating(cc, auth, dea):
    guid = push(cc, auth, instances=1)
    eventually(lambda: app_entity(cc, auth, guid)["package_state"] == "STAGED" and dea.live(guid))
    set_states(dea, guid, 0, ["EVACUATING", "CRASHED"])
    assert shown_state(cc, auth, guid, 0) == "EVACUATING"
    set_states(dea, guid, 0, ["STARTING", "EVACUATING"])
    assert shown_state(cc, auth, guid, 0) == "EVACUATING"
    set_states(dea, guid, 0, ["EVACUATING", "RUNNING"])
    assert shown_state(cc, auth, guid, 0) == "RUNNING"
