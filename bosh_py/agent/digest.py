"""Blob digests: ``sha256:<hex>`` everywhere in bosh-py (docs/internals.md), with BOSH's
older forms still accepted (bare 40-hex sha1, ``sha1:<hex>``, and multi-digests
``a;sha256:b`` where the strongest wins)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from bosh_py.agent.errors import AgentActionError

_STRENGTH = {"sha1": 1, "sha256": 2, "sha512": 3}


@dataclass(frozen=True)
class Digest:
    algorithm: str
    hexdigest: str

    @classmethod
    def parse(cls, text: str) -> "Digest":
        best: Digest | None = None
        for part in str(text or "").split(";"):
            part = part.strip()
            if not part:
                continue
            algo, _, hexd = part.rpartition(":")
            if not algo:
                algo = {40: "sha1", 64: "sha256", 128: "sha512"}.get(len(hexd), "")
            algo = algo.lower()
            if algo not in _STRENGTH or not all(c in "0123456789abcdefABCDEF" for c in hexd):
                raise AgentActionError(f"Unsupported digest {text!r}")
            d = cls(algo, hexd.lower())
            if best is None or _STRENGTH[algo] > _STRENGTH[best.algorithm]:
                best = d
        if best is None:
            raise AgentActionError("Missing digest")
        return best

    def hasher(self) -> "hashlib._Hash":
        return hashlib.new(self.algorithm)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hexdigest}"

    @property
    def key(self) -> str:
        """File-name-safe form, for caches keyed by digest."""
        return f"{self.algorithm}-{self.hexdigest}"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return f"sha256:{h.hexdigest()}"
