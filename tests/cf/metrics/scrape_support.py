"""Scraping helpers shared by the metrics tests: the real Prometheus parser, basic auth."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def http_get(url: str, user: str | None = None, password: str | None = None,
             timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url)
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, keyed by (name, sorted labels), parsed by prometheus_client."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(scraped: dict, name: str, **labels: str) -> float:
    """One sample's value, 0 when absent (a counter not yet incremented)."""
    return scraped.get((name, tuple(sorted(labels.items()))), 0.0)


def families(text: str) -> dict[str, str]:
    """family name -> type, as the parser reads them."""
    return {family.name: family.type for family in text_string_to_metric_families(text)}
