"""``bosh-py update-resurrection on|off [-d DEPLOYMENT] [--instance-group G]``: whether the
resurrector may recreate an instance, stored in the DB so it outlives a director restart.

A rule is keyed by (deployment, instance group), "" meaning "all"; the most specific rule
that matches wins (group, then deployment, then director-wide) and no rule means on, as in
BOSH. ``enabled`` is pure; ``load_rules`` and ``set_rule`` are the DB side.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bosh_py.director.models import ResurrectionRule, utcnow

ALL = ""
Rules = dict[tuple[str, str], bool]


def enabled(rules: Rules, deployment: str, group: str) -> bool:
    for key in ((deployment, group), (deployment, ALL), (ALL, ALL)):
        if key in rules:
            return rules[key]
    return True


def load_rules(session: Session) -> Rules:
    return {(r.deployment_name, r.instance_group): r.enabled for r in session.scalars(select(ResurrectionRule))}


def set_rule(session: Session, on: bool, deployment: str = ALL, group: str = ALL) -> None:
    """Store one rule; a group rule needs its deployment (a group name means nothing alone)."""
    if group and not deployment:
        raise ValueError("an instance group rule needs a deployment (-d)")
    row = session.scalar(select(ResurrectionRule).where(ResurrectionRule.deployment_name == deployment,
                                                         ResurrectionRule.instance_group == group))
    if row is None:
        session.add(ResurrectionRule(deployment_name=deployment, instance_group=group, enabled=on))
    else:
        row.enabled = on
        row.updated_at = utcnow()


def describe(rules: Rules) -> list[dict[str, object]]:
    """The rules as rows for the API and the CLI, director-wide first."""
    return [{"deployment": d or None, "instance_group": g or None, "resurrection": "on" if on else "off"}
            for (d, g), on in sorted(rules.items())]
