"""What the health monitor knows of each agent: when it last heard from it.

An agent counts as unresponsive once it has been silent for ``timeout`` seconds since its
last heartbeat, or since the monitor first learnt of it (a VM that never heartbeats at all
is as dead as one that stopped).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class AgentTracker:
    timeout: float
    last_seen: dict[str, float] = field(default_factory=dict)
    last_state: dict[str, str] = field(default_factory=dict)

    def heartbeat(self, agent_id: str, payload: dict, now: float) -> None:
        self.last_seen[agent_id] = now
        self.last_state[agent_id] = str(payload.get("job_state", ""))

    def track(self, agent_ids: set[str], now: float) -> None:
        """Start the clock for agents we never heard from; forget agents that are gone."""
        for agent_id in agent_ids:
            self.last_seen.setdefault(agent_id, now)
        for gone in set(self.last_seen) - agent_ids:
            self.last_seen.pop(gone, None)
            self.last_state.pop(gone, None)

    def restart_clocks(self, agent_ids: set[str], now: float) -> None:
        """Count these agents' silence from ``now``: what a task did to them (stopped, replaced,
        rebooted on purpose) is not evidence against them."""
        for agent_id in agent_ids:
            self.last_seen[agent_id] = now

    def unresponsive(self, now: float, longer_by: float = 0.0) -> set[str]:
        """Agents silent past the timeout (plus ``longer_by`` seconds)."""
        return {agent_id for agent_id, seen in self.last_seen.items() if now - seen > self.timeout + longer_by}
