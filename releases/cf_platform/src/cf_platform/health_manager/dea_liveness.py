"""Which DEAs are gone, judged from their heartbeats as a whole rather than per instance.
Pure logic: time is passed in.

Why: an instance that stops heartbeating is replaced only after two grace periods (it
expires, then its index is missing), 30 s each on the defaults, because one silent instance
may be a blip. A whole DEA falling silent while the bus demonstrably works is much
stronger evidence: after ``lost_after`` of *that DEA's* heartbeat intervals (each DEA says
its interval in its heartbeat; 2 s by default) every instance it reported is gone, and
their indices are started elsewhere at once.

Never on weak evidence (the slow per-instance path still applies then):

- not while the HM's own NATS connection is down, nor before it has been up again for
  ``lost_after`` intervals: a bus blip silences every DEA at once, and their heartbeats
  need that long to come back;
- not when more than half of the known DEAs would be lost at once: a bus blip the HM's
  connection did not see (or a mass failure) silences every DEA, while one DEA falling
  silent as the others keep heartbeating shows the bus delivers and the silence is that
  DEA's (so a lone DEA is never judged lost this way: its apps have nowhere else to go);
  meltdown protection, as the director's resurrector refuses mass recreation;
- not for a DEA that said ``dea.shutdown``: it is expected to go quiet once evacuated.

A DEA heard again after it was judged lost is simply alive again; the duplicates this
makes (a DEA that was only slow) are extras the HM stops after the usual grace.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_ANNOUNCED_INTERVAL = 600.0   # a heartbeat interval beyond this is taken as this


@dataclass
class DeaSeen:
    last_heard: float
    interval: float
    lost: bool = False
    leaving: bool = False      # sent dea.shutdown: its silence is expected


@dataclass(frozen=True)
class DeaLost:
    """A DEA judged gone; its instances are to be started elsewhere."""
    dea: str
    silent_for: float


@dataclass
class DeaLiveness:
    lost_after: float = 3.0            # the DEA's own heartbeat intervals
    default_interval: float = 10.0     # for a DEA that does not say its interval
    forget_after: float = 600.0        # a DEA silent this long is forgotten
    deas: dict[str, DeaSeen] = field(default_factory=dict)
    # None: the HM is not connected to NATS; -inf: connected, for as long as matters (the
    # runner reports its real connection times)
    bus_up_since: float | None = float("-inf")

    def heard(self, dea: str, interval: float | None, now: float) -> None:
        seen_interval = min(interval, MAX_ANNOUNCED_INTERVAL) if interval and interval > 0 else self.default_interval
        self.deas[dea] = DeaSeen(now, seen_interval)

    def leaving(self, dea: str, now: float) -> None:
        seen = self.deas.setdefault(dea, DeaSeen(now, self.default_interval))
        seen.leaving = True

    def bus_connected(self, now: float) -> None:
        self.bus_up_since = now

    def bus_disconnected(self) -> None:
        self.bus_up_since = None

    @property
    def bus_up(self) -> bool:
        return self.bus_up_since is not None

    def _threshold(self, seen: DeaSeen) -> float:
        return self.lost_after * seen.interval

    def _silent_for(self, seen: DeaSeen, now: float) -> float:
        """Silence counted from the HM's last (re)connection at the earliest: what was not
        delivered while the HM was away says nothing about the DEA."""
        assert self.bus_up_since is not None
        return now - max(seen.last_heard, self.bus_up_since)

    def newly_lost(self, now: float) -> list[DeaLost]:
        """DEAs that are lost as of ``now`` (each reported once), or none when the evidence
        is weak (see the module's docstring)."""
        self._forget(now)
        if self.bus_up_since is None:
            return []
        counted = {d: s for d, s in self.deas.items() if not s.leaving}
        silent = {d: s for d, s in counted.items()
                  if not s.lost and self._silent_for(s, now) > self._threshold(s)}
        if not silent:
            return []
        already_lost = sum(1 for s in counted.values() if s.lost)
        if len(silent) + already_lost > len(counted) / 2:
            return []
        for seen in silent.values():
            seen.lost = True
        return [DeaLost(d, round(self._silent_for(s, now), 3)) for d, s in sorted(silent.items())]

    def _forget(self, now: float) -> None:
        """A DEA silent this long is forgotten, whatever was judged (lost, leaving, or never,
        in a meltdown): ids heard once (a scaled-down DEA, forged ones) cannot pile up."""
        for dea in [d for d, s in self.deas.items() if now - s.last_heard > self.forget_after]:
            del self.deas[dea]
