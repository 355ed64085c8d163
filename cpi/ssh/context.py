"""What every ssh CPI method receives: the config and a log that ends up in the response."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cpi.protocol import CallLog
from cpi.ssh.config import Config


@dataclass
class Context:
    config: Config
    log: CallLog
    request_context: dict[str, Any] = field(default_factory=dict)
