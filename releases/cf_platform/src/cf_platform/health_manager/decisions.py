"""What to start and what to stop, from what the health manager has seen. Pure logic.

Rules (hm9000's, in small):

- An instance index of a runnable app (STARTED and STAGED) is *missing* when no instance of
  the app's current version with that index has been live (STARTING/RUNNING) in the
  heartbeats for ``grace`` seconds (``missing_after`` heartbeat intervals), counted from
  when the HM first noticed it absent - so a just-started HM or app is given time.
- After a CRASHED ``droplet.exited`` the index is missing at once, up to ``immediate``
  crashes in a row; then the restart waits ``base`` seconds, doubling each crash, capped
  at ``max``. The count starts over after ``reset_after`` seconds without a crash.
- An instance is *extra* when its app is unknown or stopped, it runs an old version, its
  index is beyond the desired count, or it duplicates another live instance of the same
  index, judged only by a desired state fetched after the HM first saw the instance (an
  older one may predate the CC's start of it: a CC that went away right after starting an
  app must not get its instances stopped on its way back). It is stopped once it has been
  extra for ``grace`` seconds, so the HM never races a change the CC is making itself with
  a slightly stale desired state.
- Without a fresh desired state the HM does nothing at all.
- A DEA that falls silent as a whole (:mod:`dea_liveness`: ``dea_lost_after`` of its own
  heartbeat intervals, while the bus demonstrably works) is lost: every instance it reported
  is gone at once and its indices are started elsewhere without the grace, as evacuated
  ones are. Only the HM's own view of the bus counts: while its NATS connection is down it
  does nothing, and after a reconnection every clock starts again.
- Evacuation (dea_ng's drain, hm9000's rules): an instance reported EVACUATING (or on a DEA
  that sent ``dea.shutdown``) still serves but no longer counts: its index is started
  elsewhere at once, and the evacuating instance is stopped as soon as an instance of the
  same index and version is RUNNING (so its routes are registered) - not before, so the app
  never has fewer serving instances than desired.

Time is passed in (``now``, monotonic seconds), so tests drive the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from .dea_liveness import DeaLiveness, DeaLost

LIVE_STATES = ("STARTING", "RUNNING")
EVACUATING = "EVACUATING"


@dataclass(frozen=True)
class Policy:
    heartbeat_interval: float = 10.0
    missing_after: float = 3.0            # heartbeat intervals
    immediate_restarts: int = 3
    backoff_base: float = 30.0
    backoff_max: float = 960.0
    crash_reset_after: float = 600.0
    desired_stale_after: float = 60.0     # desired state older than this: do nothing
    dea_lost_after: float = 3.0           # a DEA's own heartbeat intervals of silence: lost

    @property
    def grace(self) -> float:
        return self.heartbeat_interval * self.missing_after

    def restart_delay(self, crash_count: int) -> float:
        """Seconds to wait after crash number ``crash_count`` (1-based) before restarting."""
        if crash_count <= self.immediate_restarts:
            return 0.0
        return min(self.backoff_base * 2 ** (crash_count - self.immediate_restarts - 1), self.backoff_max)


@dataclass(frozen=True)
class DesiredApp:
    guid: str
    name: str
    state: str
    instances: int
    version: str
    package_state: str

    @property
    def runnable(self) -> bool:
        return self.state == "STARTED" and self.package_state == "STAGED"

    @classmethod
    def from_json(cls, data: dict) -> "DesiredApp":
        return cls(str(data["guid"]), str(data.get("name", "")), str(data.get("state", "")),
                   int(data.get("instances") or 0), str(data.get("version", "")),
                   str(data.get("package_state", "")))


@dataclass
class SeenInstance:
    droplet: str
    version: str
    index: int
    instance: str
    state: str
    dea: str
    first_seen: float
    last_seen: float


@dataclass
class IndexRecord:
    """What the HM remembers about one index of one app version."""
    version: str
    absent_since: float | None = None
    last_start_request: float | None = None
    crash_count: int = 0
    last_crash: float | None = None
    evacuated_at: float | None = None

    def touched(self, default: float) -> float:
        """When anything last happened to this index (``default`` when nothing did)."""
        times = [t for t in (self.absent_since, self.last_start_request, self.last_crash, self.evacuated_at)
                 if t is not None]
        return max(times) if times else default


@dataclass(frozen=True)
class StartRequest:
    droplet: str
    version: str
    indices: tuple[int, ...]

    def message(self) -> dict:
        return {"droplet": self.droplet, "version": self.version, "indices": list(self.indices)}


@dataclass(frozen=True)
class StopRequest:
    droplet: str
    instances: tuple[str, ...]

    def message(self) -> dict:
        return {"droplet": self.droplet, "instances": list(self.instances)}


Action = StartRequest | StopRequest | DeaLost    # DeaLost: to log; its starts follow it


@dataclass
class HealthState:
    policy: Policy = field(default_factory=Policy)
    instances: dict[str, SeenInstance] = field(default_factory=dict)
    desired: dict[str, DesiredApp] | None = None
    desired_at: float | None = None
    records: dict[tuple[str, int], IndexRecord] = field(default_factory=dict)
    extra_since: dict[str, float] = field(default_factory=dict)
    stop_requested: dict[str, float] = field(default_factory=dict)
    # instances reported gone by droplet.exited: a heartbeat sent just before the exit may be
    # read just after it (each subject has its own subscription), and must not revive them
    exited_at: dict[str, float] = field(default_factory=dict)
    deas: DeaLiveness = field(init=False)

    def __post_init__(self) -> None:
        self.deas = DeaLiveness(lost_after=self.policy.dea_lost_after,
                                default_interval=self.policy.heartbeat_interval,
                                forget_after=self.policy.crash_reset_after)

    # -- observations ---------------------------------------------------------------------

    def set_desired(self, apps: Iterable[DesiredApp], now: float) -> None:
        self.desired = {a.guid: a for a in apps}
        self.desired_at = now

    def observe_bus_connected(self, now: float) -> None:
        """The HM's NATS connection is (again) up: what it missed while away says nothing
        about the DEAs, so every instance and DEA gets a full grace from now."""
        self.deas.bus_connected(now)
        for seen in self.instances.values():
            seen.last_seen = max(seen.last_seen, now)
        for rec in self.records.values():
            if rec.absent_since is not None:
                rec.absent_since = max(rec.absent_since, now)

    def observe_bus_disconnected(self) -> None:
        """Until it is back, the HM decides nothing (what it would publish would be queued
        and sent on reconnection, stale)."""
        self.deas.bus_disconnected()

    def observe_heartbeat(self, message: dict, now: float) -> None:
        dea = str(message.get("dea") or "")
        if dea:
            interval = message.get("interval")
            self.deas.heard(dea, float(interval) if isinstance(interval, (int, float)) else None, now)
        reported: set[str] = set()
        for d in message.get("droplets") or []:
            if not isinstance(d, dict) or not d.get("instance") or not isinstance(d.get("index"), int):
                continue
            key = str(d["instance"])
            if key in self.exited_at:
                continue
            reported.add(key)
            seen = self.instances.get(key)
            state = str(d.get("state"))
            if seen is None:
                seen = SeenInstance(str(d.get("droplet")), str(d.get("version")), d["index"], key,
                                    state, dea, now, now)
                self.instances[key] = seen
                previous = None
            else:
                previous = seen.state
            if previous == EVACUATING and state in LIVE_STATES:
                state = EVACUATING      # dea.shutdown said so; a heartbeat sent before it must not undo it
            if state == EVACUATING and previous != EVACUATING:
                self._evacuating(seen, now)
            seen.state = state
            seen.last_seen = now
            seen.dea = dea
        if dea:   # what this DEA no longer reports is gone
            for key in [k for k, s in self.instances.items() if s.dea == dea and k not in reported]:
                del self.instances[key]

    def observe_shutdown(self, message: dict, now: float) -> None:
        """``dea.shutdown {id, ...}``: every live instance of that DEA is evacuating (its own
        EVACUATING heartbeat follows; this only lets the HM act a heartbeat sooner)."""
        dea = str(message.get("id") or "")
        if dea:
            self.deas.leaving(dea, now)
        for seen in self.instances.values():
            if dea and seen.dea == dea and seen.state in LIVE_STATES:
                self._evacuating(seen, now)
                seen.state = EVACUATING

    def _evacuating(self, seen: SeenInstance, now: float) -> None:
        """Start the index elsewhere at the next decision, without the usual grace."""
        rec = self.records.get((seen.droplet, seen.index))
        if rec is None or rec.version != seen.version:
            rec = IndexRecord(version=seen.version)
            self.records[(seen.droplet, seen.index)] = rec
        rec.evacuated_at = now

    def observe_exited(self, message: dict, now: float) -> None:
        instance = str(message.get("instance") or "")
        self.instances.pop(instance, None)
        if instance:
            self.exited_at[instance] = now
        droplet, index, version = message.get("droplet"), message.get("index"), str(message.get("version") or "")
        if not isinstance(droplet, str) or not isinstance(index, int):
            return
        reason = message.get("reason")
        if reason not in ("CRASHED", "DEA_SHUTDOWN", "DEA_EVACUATION"):
            return      # STOPPED: someone meant it
        rec = self.records.get((droplet, index))
        if rec is None or rec.version != version:
            rec = IndexRecord(version=version)
            self.records[(droplet, index)] = rec
        if reason == "CRASHED":
            if rec.last_crash is not None and now - rec.last_crash > self.policy.crash_reset_after:
                rec.crash_count = 0
            rec.crash_count += 1
            rec.last_crash = now
        else:
            rec.evacuated_at = now

    # -- judgement ------------------------------------------------------------------------

    def decide(self, now: float) -> list[Action]:
        if self.desired is None or self.desired_at is None or now - self.desired_at > self.policy.desired_stale_after:
            return []
        if not self.deas.bus_up:
            return []
        lost = self._lost_deas(now)
        self._expire(now)
        return [*lost, *self._starts(now), *self._stops(now)]

    def _lost_deas(self, now: float) -> list[Action]:
        """Forget the instances of DEAs judged lost; their indices start at once."""
        lost = self.deas.newly_lost(now)
        for gone in lost:
            for key, seen in [(k, s) for k, s in self.instances.items() if s.dea == gone.dea]:
                del self.instances[key]
                if seen.state in LIVE_STATES:
                    self._evacuating(seen, now)
        return list(lost)

    def _expire(self, now: float) -> None:
        for key in [k for k, s in self.instances.items() if now - s.last_seen > self.policy.grace]:
            del self.instances[key]
        for key in [k for k, t in self.exited_at.items() if now - t > self.policy.grace]:
            del self.exited_at[key]
        for key in [k for k in self.extra_since if k not in self.instances]:
            del self.extra_since[key]
        for key in [k for k, t in self.stop_requested.items()
                    if k not in self.instances and now - t > self.policy.grace]:
            del self.stop_requested[key]
        assert self.desired is not None
        for key, rec in list(self.records.items()):
            app = self.desired.get(key[0])
            if app is None:
                # maybe created after this snapshot: keep what we know (a crash) for a while
                if now - rec.touched(now) > self.policy.crash_reset_after:
                    del self.records[key]
            elif (not app.runnable or key[1] >= app.instances) and rec.touched(0.0) <= self.desired_at:
                # (a crash newer than the snapshot is kept: the snapshot may predate the start)
                del self.records[key]

    def _live(self) -> list[SeenInstance]:
        return [s for s in self.instances.values() if s.state in LIVE_STATES]

    def _starts(self, now: float) -> list[Action]:
        assert self.desired is not None
        present = {(s.droplet, s.version, s.index) for s in self._live()}
        actions: list[Action] = []
        for app in sorted(self.desired.values(), key=lambda a: a.guid):
            if not app.runnable:
                continue
            missing: list[int] = []
            for index in range(app.instances):
                rec = self.records.get((app.guid, index))
                if rec is None or rec.version != app.version:
                    rec = IndexRecord(version=app.version)
                    self.records[(app.guid, index)] = rec
                if (app.guid, app.version, index) in present:
                    rec.absent_since = None
                    rec.evacuated_at = None
                    continue
                if rec.absent_since is None:
                    rec.absent_since = now
                if now >= self._ready_at(rec):
                    missing.append(index)
                    rec.last_start_request = now
                    rec.absent_since = now
                    rec.evacuated_at = None
            if missing:
                actions.append(StartRequest(app.guid, app.version, tuple(missing)))
        return actions

    def _ready_at(self, rec: IndexRecord) -> float:
        assert rec.absent_since is not None
        crashed_since_start = rec.last_crash is not None and (
            rec.last_start_request is None or rec.last_crash >= rec.last_start_request)
        if crashed_since_start:
            assert rec.last_crash is not None
            return rec.last_crash + self.policy.restart_delay(rec.crash_count)
        if rec.evacuated_at is not None:
            return rec.evacuated_at
        return rec.absent_since + self.policy.grace

    def _stops(self, now: float) -> list[Action]:
        assert self.desired is not None
        extras: list[SeenInstance] = []
        replaced: list[SeenInstance] = []
        running = {(s.droplet, s.version, s.index) for s in self._live() if s.state == "RUNNING"}
        for s in self.instances.values():
            if s.state != EVACUATING:
                continue
            app = self.desired.get(s.droplet)
            if (s.droplet, s.version, s.index) in running:
                replaced.append(s)      # its replacement serves: stop it now, no grace
            elif app is None or app.state != "STARTED" or s.version != app.version or s.index >= app.instances:
                extras.append(s)        # nobody wants it any more: the usual grace applies
        keep: dict[tuple[str, str, int], SeenInstance] = {}
        for s in sorted(self._live(), key=lambda s: (s.state != "RUNNING", s.first_seen, s.instance)):
            app = self.desired.get(s.droplet)
            if app is None or app.state != "STARTED" or s.version != app.version or s.index >= app.instances:
                extras.append(s)
            elif (s.droplet, s.version, s.index) in keep:
                extras.append(s)        # a duplicate of an index already kept
            else:
                keep[(s.droplet, s.version, s.index)] = s
        extra_ids = {s.instance for s in extras}
        for key in [k for k in self.extra_since if k not in extra_ids]:
            del self.extra_since[key]
        by_droplet: dict[str, list[str]] = {}
        for s in replaced:
            asked = self.stop_requested.get(s.instance)
            if asked is None or now - asked >= self.policy.grace:
                by_droplet.setdefault(s.droplet, []).append(s.instance)
                self.stop_requested[s.instance] = now
        for s in extras:
            if self.desired_at is None or self.desired_at < s.first_seen:
                continue  # a view taken before it appeared cannot say nobody wants it: wait for the next
            since = self.extra_since.setdefault(s.instance, now)
            asked = self.stop_requested.get(s.instance)
            if now - since >= self.policy.grace and (asked is None or now - asked >= self.policy.grace):
                by_droplet.setdefault(s.droplet, []).append(s.instance)
                self.stop_requested[s.instance] = now
        return [StopRequest(d, tuple(sorted(ids))) for d, ids in sorted(by_droplet.items())]
