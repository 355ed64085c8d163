"""Retry an IaaS call that was throttled, with exponential backoff.

Clouds throttle bursts (a deploy makes many calls at once); BOSH's CPIs retry those calls
rather than failing a deploy. Which errors are throttling is the provider's knowledge.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def with_backoff(call: Callable[[], T], throttled: Callable[[Exception], bool],
                 attempts: int = 6, first_delay: float = 0.5, max_delay: float = 8.0,
                 log: Callable[[str], None] = lambda line: None,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """``call()``, again after 0.5 s, 1 s, 2 s … while ``throttled(error)``; the last
    throttled error is raised after ``attempts`` tries."""
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as error:
            if attempt == attempts or not throttled(error):
                raise
            log(f"throttled ({error}); retry {attempt}/{attempts - 1} in {delay:.1f}s")
            sleep(delay)
            delay = min(delay * 2, max_delay)
    raise AssertionError("unreachable")
