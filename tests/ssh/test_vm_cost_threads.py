"""SSH bootstraps run on a pool of their own, as many at once as VMs are created at once:
asyncio's default pool (min(32, cpus + 4) threads: 6 on a 2-core host, shared with every other
to_thread call) held finished CPI calls back from their bootstrap."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from bosh_py.director.concurrency import VM_THREADS, in_vm_thread, vm_pool
from bosh_py.director.stages.create_missing_vms import PARALLEL


def test_every_vm_created_at_once_gets_a_bootstrap_thread_at_once():
    assert VM_THREADS >= PARALLEL
    meeting = threading.Barrier(PARALLEL, timeout=10)  # broken unless all PARALLEL run together

    async def main() -> list[int]:
        # a starved default pool: the bootstraps must not depend on it
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=1))
        pool = vm_pool()
        try:
            return await asyncio.gather(*(in_vm_thread(pool, meeting.wait) for _ in range(PARALLEL)))
        finally:
            pool.shutdown()

    assert sorted(asyncio.run(main())) == list(range(PARALLEL))
