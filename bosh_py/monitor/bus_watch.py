"""Whether the director's own view of the bus can be trusted right now.

Silence from agents means "VM dead" only if the director itself could hear them. While the
director's NATS connection is down, and for a grace period after it comes back (agents
reconnect and heartbeat on their own schedule), silence says nothing about the VMs, so the
resurrector must not act on it. Pure: the owner feeds in connection changes with the time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class BusWatch:
    grace: float  # seconds after a reconnect during which silence is not evidence (> agent_timeout)
    connected: bool = True
    changed_at: float | None = None  # when the connection last went down or came back
    outages: int = 0
    silence_seen_at: float | None = None  # the last round in which most agents were silent at once
    stalled_at: float | None = None  # when the director's own event loop was last found stalled

    def disconnected(self, now: float) -> None:
        if self.connected:
            self.outages += 1
        self.connected = False
        self.changed_at = now

    def reconnected(self, now: float) -> None:
        self.connected = True
        self.changed_at = now

    def mass_silence(self, now: float) -> None:
        """Most agents fell silent together: the bus failed in a way the connection did not
        show (a frozen server, a cut bridge). Treat its end like a reconnect, so agents whose
        heartbeats come back a little later than the others are not recreated."""
        self.silence_seen_at = now

    def stalled(self, now: float) -> None:
        """The director's event loop ran late (a blocking call, an overloaded host): heartbeats
        queued meanwhile are not processed yet, so silence until they are says nothing."""
        self.stalled_at = now

    def problem(self, now: float, connected_now: bool = True) -> str | None:
        """Why agent silence cannot be trusted now, or None when it can. ``connected_now``
        is the client's own flag, read at analysis time in case a callback was missed."""
        if not self.connected or not connected_now:
            return "the director's NATS connection is down"
        if self.changed_at is not None and now - self.changed_at < self.grace:
            return (f"the director's NATS connection came back {now - self.changed_at:.0f}s ago; "
                    f"agents get {self.grace:g}s to heartbeat again")
        if self.stalled_at is not None and now - self.stalled_at < self.grace:
            return (f"the director's own event loop stalled {now - self.stalled_at:.0f}s ago; "
                    f"agents get {self.grace:g}s to heartbeat again")
        if self.silence_seen_at is not None and now - self.silence_seen_at < self.grace:
            return (f"most agents were silent at once {now - self.silence_seen_at:.0f}s ago; "
                    f"agents get {self.grace:g}s to heartbeat again")
        return None
