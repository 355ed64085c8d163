"""What a dummy CPI method gets: its config and the call log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cpi.dummy.config import DummyConfig


@dataclass
class Context:
    config: DummyConfig
    log: Callable[[str], None]
    request: dict[str, Any] = field(default_factory=dict)
