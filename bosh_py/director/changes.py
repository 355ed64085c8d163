"""What changed for one instance, as a set of names (BOSH's ``InstancePlan#changes``).

The set decides the work (recreate the VM, or only apply and restart) and explains it in
the task log and the dry-run plan ("web/0: network, configuration"). Pure: no DB, no VM.

The VM's own facts (stemcell, cloud properties, networks, env, CPI) are recorded in the
instance's ``applied_spec`` under ``vm_spec`` when its VM is made. ``vm_spec_digest`` stays
the judge of whether the VM must be recreated; the recorded facts only name why. Rows made
before the facts were recorded name what they can (networks are in every applied spec)
and otherwise say ``vm_spec``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

VM_SPEC_KEY = "vm_spec"  # in applied_spec: the facts the VM was made with
NOT_SENT_TO_AGENT = ("rendered_templates_archive", VM_SPEC_KEY)  # applied_spec keys outside the spec identity

# Changes that need a new VM; every other change is applied to the running VM (stop, apply, start).
VM_CHANGES = frozenset({"new", "recreate", "unresponsive_agent", "stemcell", "cloud_properties",
                        "network", "env", "cpi", "vm_spec"})

# vm_spec fact -> change name
_VM_FACTS = {"stemcell": "stemcell", "cloud_properties": "cloud_properties", "networks": "network",
             "env": "env", "cpi": "cpi"}
# apply spec key -> change name; a key not listed is named "spec"
_SPEC_KEYS = {"job": "jobs", "packages": "packages", "configuration_hash": "configuration",
              "persistent_disk": "persistent_disk", "networks": "network", "bootstrap": "bootstrap",
              "az": "az", "index": "index"}


@dataclass(frozen=True)
class CurrentInstance:
    """What the director knows of an instance today (a plain copy of its row)."""

    has_vm: bool
    vm_spec_digest: str | None
    applied_spec: dict[str, Any]
    state: str = "started"


@dataclass(frozen=True)
class PlannedInstance:
    """What the deploy wants: the VM facts, their digest, the agent's apply spec, the state."""

    vm_spec: dict[str, Any]
    vm_digest: str
    apply_spec: dict[str, Any]
    state: str = "started"


@dataclass(frozen=True)
class ChangeOptions:
    recreate: bool = False  # `deploy --recreate`, `bosh-py recreate`
    unresponsive_agent: bool = False  # `deploy --fix` found this instance's agent silent


def vm_spec(stemcell_cid: str, cloud_properties: dict, networks: dict, env: dict, cpi: str) -> dict[str, Any]:
    """The facts recorded for a VM when it is made (what vm_digest hashes)."""
    return {"stemcell": stemcell_cid, "cloud_properties": cloud_properties, "networks": networks,
            "env": env, "cpi": cpi}


def agent_spec(applied_spec: dict | None) -> dict[str, Any]:
    """The part of an applied spec the agent was given (its identity for change detection)."""
    return {k: v for k, v in (applied_spec or {}).items() if k not in NOT_SENT_TO_AGENT}


def _vm_changes(current: CurrentInstance, planned: PlannedInstance) -> set[str]:
    if current.vm_spec_digest == planned.vm_digest:
        return set()
    recorded = current.applied_spec.get(VM_SPEC_KEY)
    if isinstance(recorded, dict):
        named = {name for fact, name in _VM_FACTS.items() if recorded.get(fact) != planned.vm_spec.get(fact)}
    else:  # made before the facts were recorded: networks are in every applied spec
        old_networks = current.applied_spec.get("networks")
        named = {"network"} if old_networks is not None and old_networks != planned.vm_spec.get("networks") else set()
    return named or {"vm_spec"}


def _apply_changes(current: CurrentInstance, planned: PlannedInstance) -> set[str]:
    old, new = agent_spec(current.applied_spec), agent_spec(planned.apply_spec)
    if old == new:
        return set()
    if not old:
        return {"unapplied"}  # the VM exists but an earlier update stopped before apply
    return {_SPEC_KEYS.get(key, "spec") for key in set(old) | set(new) if old.get(key) != new.get(key)}


def instance_changes(current: CurrentInstance | None, planned: PlannedInstance,
                     options: ChangeOptions = ChangeOptions()) -> frozenset[str]:
    """Every reason the instance must be touched; empty when it is already as planned."""
    if current is None or not current.has_vm:
        return frozenset({"new"})
    names = _vm_changes(current, planned) | _apply_changes(current, planned)
    if options.recreate:
        names.add("recreate")
    if options.unresponsive_agent:
        names.add("unresponsive_agent")
    if planned.state != current.state:
        names.add("state")
    return frozenset(names)


def vm_outdated(current: CurrentInstance | None, vm_digest: str, options: ChangeOptions = ChangeOptions()) -> bool:
    """The instance has a VM that must be replaced (what create-swap-delete plans ahead for,
    before the templates are rendered); the same judgement as ``instance_changes``'s VM part."""
    return current is not None and current.has_vm and (
        current.vm_spec_digest != vm_digest or options.recreate or options.unresponsive_agent)


def needs_vm(changes: frozenset[str]) -> bool:
    return bool(changes & VM_CHANGES)


def needs_apply(changes: frozenset[str]) -> bool:
    """Any change at all means the spec is applied again (a new VM starts empty)."""
    return bool(changes)


def describe(changes: frozenset[str]) -> str:
    """The reason as the task log prints it: ``network, configuration`` (sorted, stable)."""
    return ", ".join(sorted(changes)) if changes else "no changes"
