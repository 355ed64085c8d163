"""Running a batch of director work concurrently."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Iterable


async def await_all(work: Iterable[Awaitable[Any]]) -> list[Any]:
    """Run every piece to its end, then raise the first failure: a batch is never abandoned
    half-way (an instance half-updated because its neighbour failed), yet a failure is never lost."""
    results = await asyncio.gather(*work, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        raise failures[0]
    return results
