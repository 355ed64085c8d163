"""VMs the director made (or may have made) that no instance holds.

``create_vm`` writes an intent (agent id, CPI, IP, deployment, instance) before it asks the
CPI, and the cid as soon as the CPI answers. If the director dies before the instance row
is saved, the intent is all that says the IaaS holds a VM on that IP; without it the VM
would block every later deploy of the IP. An intent whose agent id an instance row holds
is done (``prune_saved`` drops it); one whose VM was deleted is dropped by ``forget``. What
is left is an orphaned VM: ``bosh-py orphaned-vms`` lists them and ``bosh-py cck`` deletes
them. ``orphan_vm`` records a VM the director gives up on purpose (create-swap-delete's old
VM) the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bosh_py.director.models import DEFAULT_CPI, Instance, VmIntent


@dataclass(frozen=True)
class OrphanVm:
    agent_id: str
    vm_cid: str | None  # None: the director died before the CPI answered; the VM may not exist
    cpi: str
    ip: str | None
    deployment: str | None
    instance: str | None  # group/uuid
    created_at: datetime

    def as_json(self) -> dict[str, object]:
        return {"agent_id": self.agent_id, "cid": self.vm_cid, "cpi": self.cpi, "ip": self.ip,
                "deployment": self.deployment, "instance": self.instance,
                "created_at": self.created_at.isoformat() + "Z"}


def record_intent(session: Session, agent_id: str, cpi: str = DEFAULT_CPI, ip: str | None = None,
                  deployment: str | None = None, instance: str | None = None) -> None:
    session.add(VmIntent(agent_id=agent_id, cpi=cpi, ip=ip, deployment_name=deployment, instance_name=instance))


def record_cid(session: Session, agent_id: str, vm_cid: str) -> None:
    row = session.scalar(select(VmIntent).where(VmIntent.agent_id == agent_id))
    if row is not None:
        row.vm_cid = vm_cid


def forget(session: Session, agent_id: str) -> None:
    """The VM is deleted (or was never made): nothing is left to find."""
    session.execute(delete(VmIntent).where(VmIntent.agent_id == agent_id))


def orphan_vm(session: Session, vm_cid: str, agent_id: str, cpi: str = DEFAULT_CPI, ip: str | None = None,
              deployment: str | None = None, instance: str | None = None) -> None:
    """Record a VM no instance holds any more, to be listed and deleted later."""
    row = session.scalar(select(VmIntent).where(VmIntent.agent_id == agent_id))
    if row is None:
        session.add(VmIntent(agent_id=agent_id, vm_cid=vm_cid, cpi=cpi, ip=ip, deployment_name=deployment,
                             instance_name=instance))
    else:
        row.vm_cid = vm_cid


def prune_saved(session: Session) -> None:
    """Drop the intents whose VM an instance row now holds: those creates finished."""
    held = select(Instance.agent_id).where(Instance.agent_id.is_not(None), Instance.vm_cid.is_not(None))
    session.execute(delete(VmIntent).where(VmIntent.agent_id.in_(held)))


def orphaned_vms(session: Session, deployment: str | None = None) -> list[OrphanVm]:
    """What no instance holds (after ``prune_saved``), oldest first; ``deployment`` narrows it."""
    prune_saved(session)
    query = select(VmIntent).order_by(VmIntent.id)
    if deployment is not None:
        query = query.where(VmIntent.deployment_name == deployment)
    return [OrphanVm(r.agent_id, r.vm_cid, r.cpi, r.ip, r.deployment_name, r.instance_name, r.created_at)
            for r in session.scalars(query)]
