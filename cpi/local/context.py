"""What every CPI method receives: the config and a log that ends up in the response."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cpi.local.config import Config


@dataclass
class CallLog:
    """Lines for the response's ``log`` field (the director prints them in debug logs)."""

    lines: list[str] = field(default_factory=list)

    def __call__(self, line: str) -> None:
        self.lines.append(line)

    def text(self) -> str:
        return "".join(f"{line}\n" for line in self.lines)


@dataclass
class Context:
    config: Config
    log: CallLog
    request_context: dict[str, Any] = field(default_factory=dict)
