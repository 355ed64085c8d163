"""What every CPI method receives: the config, a log for the response, the provider."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cpi.libcloud.config import Config
from cpi.protocol import CallLog
from cpi.libcloud.provider import Provider, load_provider


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
