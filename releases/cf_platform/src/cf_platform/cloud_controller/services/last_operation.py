"""Polling a broker's ``last_operation`` until an async create or delete ends.

One daemon thread per operation (brokers are few, operations rare), sleeping
``poll_interval`` between polls and giving up after ``max_poll_duration``. A poll that fails
(broker down, bad answer) is logged and retried: the operation's fate is the broker's answer,
not a passing network fault. The CC restarting resumes every operation still in progress.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .broker_client import BrokerClient, BrokerFailure
from .models import FAILED, IN_PROGRESS, SUCCEEDED, LastOperation

log = logging.getLogger(__name__)

# (instance guid, final operation) -> None: the instances module records the outcome
Finish = Callable[[str, LastOperation], None]


def poll_until_done(client: BrokerClient, instance_guid: str, service_id: str, plan_id: str,
                    op: LastOperation, interval: float, max_duration: float, finish: Finish,
                    stopping: threading.Event) -> None:
    deadline = time.monotonic() + max_duration
    while not stopping.wait(interval):
        try:
            answer = client.last_operation(instance_guid, service_id, plan_id, op.broker_operation)
        except BrokerFailure as e:
            log.warning("last_operation of service instance %s: %s", instance_guid, e)
            answer = None
        if answer is not None:
            state = answer.get("state") if answer else (SUCCEEDED if op.type == "delete" else FAILED)
            description = answer.get("description") if isinstance(answer.get("description"), str) else ""
            if not answer:   # 410 Gone: a delete is done; a create vanished
                description = "the broker no longer knows this instance"
            if state in (SUCCEEDED, FAILED):
                finish(instance_guid, LastOperation(op.type, state, description[:1024], None))
                return
            if state != IN_PROGRESS:
                log.warning("last_operation of service instance %s: unknown state %r", instance_guid, state)
        if time.monotonic() > deadline:
            finish(instance_guid, LastOperation(op.type, FAILED, f"the broker did not finish the {op.type} within "
                                                f"{max_duration:g} s", None))
            return


class Poller:
    def __init__(self, interval: float, max_duration: float, finish: Finish) -> None:
        self.interval = interval
        self.max_duration = max_duration
        self.finish = finish
        self.stopping = threading.Event()

    def watch(self, client: BrokerClient, instance_guid: str, service_id: str, plan_id: str,
              op: LastOperation) -> None:
        threading.Thread(target=poll_until_done, name=f"last-operation-{instance_guid[:8]}", daemon=True,
                         args=(client, instance_guid, service_id, plan_id, op, self.interval, self.max_duration,
                               self.finish, self.stopping)).start()

    def stop(self) -> None:
        self.stopping.set()
