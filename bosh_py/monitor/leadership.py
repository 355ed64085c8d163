"""The health monitor runs in the one director process that holds the ``health-monitor``
lease (leases.py); every other process stands by and takes over when the holder's lease
lapses. Gaining the lease starts a fresh monitor (what an old one knew of heartbeats is
stale by then); losing it, or failing to renew it, stops the monitor at once: two monitors
would recreate the same VM twice."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bosh_py.director.leases import HEALTH_MONITOR, LeaseManager
from bosh_py.monitor.resurrector import Resurrector

log = logging.getLogger(__name__)


async def monitor_while_leading(leases: LeaseManager, new_monitor: Callable[[], Resurrector]) -> None:
    monitor: Resurrector | None = None
    running: asyncio.Task | None = None

    async def stop() -> None:
        nonlocal monitor, running
        if running is not None:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
        if monitor is not None:
            await monitor.stop()
        monitor = running = None

    try:
        while True:
            try:
                leading = await asyncio.to_thread(leases.hold, HEALTH_MONITOR)
            except Exception:  # noqa: BLE001 - an unreachable database: not the leader now
                log.exception("renewing the health monitor's lease failed")
                leading = False
            if leading and running is None:
                log.info("this director process runs the health monitor")
                monitor = new_monitor()
                await monitor.start()
                running = asyncio.create_task(monitor.run_forever())
            elif not leading and running is not None:
                log.warning("the health monitor's lease is lost; its monitor stops here")
                await stop()
            await asyncio.sleep(leases.ttl / 3)
    finally:
        await stop()
        try:
            await asyncio.to_thread(leases.release, HEALTH_MONITOR)
        except Exception:  # noqa: BLE001 - it lapses on its own
            log.warning("could not release the health monitor's lease; it lapses in %gs", leases.ttl)
