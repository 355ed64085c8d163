"""Running a batch of director work concurrently, and the threads blocking per-VM work runs on."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

# Threads for blocking per-VM work (the SSH bootstrap), a pool each Director owns
# (services.py). asyncio's default pool has min(32, cpus + 4) threads, 6 on a 2-core host:
# fewer than the VMs created at once, and shared with every other to_thread call (database,
# NATS users, blobstore), so VMs whose CPI call had finished queued for a thread. A thread
# here mostly waits on the network.
VM_THREADS = 16


def vm_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=VM_THREADS, thread_name_prefix="bosh-py-vm")


async def in_vm_thread(pool: ThreadPoolExecutor, work: Callable[..., T], *args: Any) -> T:
    """``await in_vm_thread(pool, f, *args)``: ``f(*args)`` on a thread of ``pool`` (as
    ``asyncio.to_thread`` does on the default pool)."""
    return await asyncio.get_running_loop().run_in_executor(pool, functools.partial(work, *args))


async def await_all(work: Iterable[Awaitable[Any]]) -> list[Any]:
    """Run every piece to its end, then raise the first failure: a batch is never abandoned
    half-way (an instance half-updated because its neighbour failed), yet a failure is never lost."""
    results = await asyncio.gather(*work, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        raise failures[0]
    return results
