"""Group commit: changes from many threads carried by one expensive apply.

Why: nats-server learns about a new agent user only through a config reload, and a reload
costs work for every connected client. The director creates VMs in parallel, so changes
arrive together; applying them one reload each makes a 100-VM deploy queue behind 100
reloads. Here a change is recorded at once (cheap, under a short state lock) and joins the
*open batch*; whichever caller next holds the commit lock takes the open batch, snapshots
the state and applies it once, so every change that arrived while the previous apply ran
is carried by the next one. Each caller returns only after an apply that includes its own
change has succeeded, and every caller whose change a failed apply carried gets the error.

Runs on the caller's thread (the director calls from ``asyncio.to_thread`` workers); no
thread of its own.
"""

from __future__ import annotations

import threading
from typing import Callable, Generic, TypeVar

from bosh_py.mbus.errors import MbusError

S = TypeVar("S")


class _Batch:
    """Changes that one apply will carry; ``done`` and ``error`` are written under the
    commit lock before it is released, and read under it or after it was taken."""

    __slots__ = ("done", "error", "size")

    def __init__(self) -> None:
        self.done = False
        self.error: BaseException | None = None
        self.size = 0


class GroupCommit(Generic[S]):
    """``snapshot()`` copies the state (called under ``state_lock``); ``apply(snapshot)``
    makes it effective (called under ``commit_lock``, which the owner may also take to keep
    other work, such as a server restart, from overlapping an apply)."""

    def __init__(self, commit_lock: threading.Lock, snapshot: Callable[[], S],
                 apply: Callable[[S], None]) -> None:
        self.commit_lock = commit_lock
        self.state_lock = threading.Lock()
        self._snapshot = snapshot
        self._apply = apply
        self._open = _Batch()
        self.applies = 0  # how many applies ran (tests read it)

    def change(self, mutate: Callable[[], bool]) -> None:
        """Run ``mutate`` under the state lock; if it changed something (returns True),
        wait until an apply that includes the change has succeeded, or raise its error."""
        with self.state_lock:
            if not mutate():
                return
            batch = self._open
            batch.size += 1
        with self.commit_lock:
            if not batch.done:  # no earlier caller carried it: carry the open batch now
                self._apply_open()
        if batch.error is not None:
            together = f" (one of {batch.size} changes applied together)" if batch.size > 1 else ""
            raise MbusError(f"{batch.error}{together}") from batch.error

    def _apply_open(self) -> None:
        with self.state_lock:
            taken, self._open = self._open, _Batch()
            try:
                state = self._snapshot()
            except BaseException as error:
                taken.error, taken.done = error, True
                return
        try:
            self.applies += 1
            self._apply(state)
        except BaseException as error:  # every caller of the batch raises it, this one too
            taken.error = error
        finally:
            taken.done = True
