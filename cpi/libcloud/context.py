"""What every CPI method receives: the config, a log for the response, the provider."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cpi.libcloud.config import Config
from cpi.libcloud.provider import Provider, load_provider


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
    _provider: Provider | None = None

    @property
    def provider(self) -> Provider:
        """The provider, made on first use (``info`` needs no IaaS connection)."""
        if self._provider is None:
            self._provider = load_provider(self.config, self.log)
        return self._provider
