"""What the health manager reads from NATS, checked before it can change what the HM believes
(cf_platform.messages has the rules): a forged or broken heartbeat must not make the HM start
or stop anything, nor fill its memory."""

from __future__ import annotations

from typing import Any

from ..messages import (DEA_ID_RE, ID_RE, INSTANCE_STATES, MAX_INDEX, VERSION_RE, Fields,
                        parse_exited)

MAX_HEARTBEAT_INSTANCES = 10_000   # far beyond what one DEA's memory can hold

__all__ = ["parse_heartbeat", "parse_exited", "parse_shutdown"]


def parse_heartbeat(payload: Any) -> dict[str, Any]:
    """``dea.heartbeat`` ``{dea, interval?, droplets: [{droplet, version, instance, index, state,
    state_timestamp}]}`` as a checked dict; one bad entry refuses the whole heartbeat."""
    f = Fields(payload, "dea.heartbeat")
    dea = f.text("dea", DEA_ID_RE, 128)
    entries = f.raw_list("droplets", MAX_HEARTBEAT_INSTANCES) or []
    droplets = []
    for i, entry in enumerate(entries):
        e = Fields(entry, f"dea.heartbeat droplets[{i}]")
        droplets.append({"droplet": e.text("droplet", ID_RE, 128),
                         "version": e.text("version", VERSION_RE, 128, required=False, default=""),
                         "instance": e.text("instance", ID_RE, 128),
                         "index": e.integer("index", 0, MAX_INDEX),
                         "state": e.one_of("state", INSTANCE_STATES),
                         "state_timestamp": e.number("state_timestamp", 0, 1e11, required=False)})
    # the DEA's heartbeat interval (a bosh-py addition): how soon its silence means it is gone
    interval = f.number("interval", 0.1, 3600, required=False)
    return {"dea": dea, "droplets": droplets, "interval": interval}


def parse_shutdown(payload: Any) -> dict[str, Any]:
    """``dea.shutdown {id, ip?, version?, app_id_to_count?}`` (dea_ng's, sent when a DEA starts
    evacuating); only ``id`` is used."""
    f = Fields(payload, "dea.shutdown")
    return {"id": f.text("id", DEA_ID_RE, 128)}
