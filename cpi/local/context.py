"""What every CPI method receives: the config and a log that ends up in the response."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cpi.local.config import Config
from cpi.protocol import CallLog


@dataclass
class Context:
    config: Config
    log: CallLog
    request_context: dict[str, Any] = field(default_factory=dict)
