"""The webhook plugin against a real aiohttp receiver on 127.0.0.1: signed JSON alerts,
bounded retries, failures logged without the secret or the URL's token, never blocking."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time

from aiohttp import web

from bosh_py.director.config import WebhookConfig
from bosh_py.monitor.webhook import SIGNATURE_HEADER, WebhookNotifier, alert

SECRET = "hook-secret-5e1f"


class Receiver:
    """A local HTTP endpoint that answers ``statuses`` in turn (then 200) and keeps what it got."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)

    async def __aenter__(self) -> "Receiver":  # noqa: UP037, PYI034 - plain, as the project targets 3.11
        app = web.Application()
        app.router.add_post("/hooks/{token}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # started above
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/tok-9c2"


def config(url: str, **extra: object) -> WebhookConfig:
    return WebhookConfig(url=url, secret=SECRET, timeout=2, retry_pause=0.05, **extra)


def test_an_alert_arrives_as_signed_json():
    async def scenario() -> None:
        async with Receiver() as receiver:
            notifier = WebhookNotifier(config(receiver.url()))
            notifier.notify(alert("bosh-py", "cf", "resurrect", "task 7: unresponsive agents on dea/1", 2))
            await notifier.drain(10)
            await notifier.close()
            [(headers, body)] = receiver.received
            payload = json.loads(body)
            assert (payload["deployment"], payload["action"], payload["severity"]) == ("cf", "resurrect", 2)
            assert "dea/1" in payload["summary"]
            expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            assert headers[SIGNATURE_HEADER] == expected
    asyncio.run(scenario())


def test_failures_are_retried_a_bounded_number_of_times_then_logged_without_secrets(caplog):
    async def scenario() -> WebhookNotifier:
        async with Receiver([500, 503, 502, 500]) as receiver:
            notifier = WebhookNotifier(config(receiver.url(), attempts=3))
            notifier.notify(alert("bosh-py", None, "mass silence", "3 of 4 agents silent", 1))
            await notifier.drain(10)
            await notifier.close()
            assert len(receiver.received) == 3, "three attempts, then given up"
            return notifier
    with caplog.at_level(logging.WARNING, logger="bosh_py.monitor.webhook"):
        notifier = asyncio.run(scenario())
    assert (notifier.delivered, notifier.failed) == (0, 1)
    assert "not delivered after 3 attempts (HTTP 502)" in caplog.text
    assert SECRET not in caplog.text and "tok-9c2" not in caplog.text


def test_a_retry_that_succeeds_delivers_once():
    async def scenario() -> None:
        async with Receiver([503]) as receiver:
            notifier = WebhookNotifier(config(receiver.url()))
            notifier.notify(alert("bosh-py", "cf", "meltdown", "5 of 10 instances not running", 1))
            await notifier.drain(10)
            await notifier.close()
            assert len(receiver.received) == 2 and notifier.delivered == 1
    asyncio.run(scenario())


def test_an_unreachable_receiver_never_blocks_the_caller():
    async def scenario() -> None:
        # a port nothing listens on (bound then closed), and a full queue's worth of alerts
        async with Receiver() as receiver:
            url = receiver.url()
        notifier = WebhookNotifier(config(url, attempts=2))
        started = time.monotonic()
        for n in range(500):
            notifier.notify(alert("bosh-py", "cf", "unresponsive", f"alert {n}", 3))
        assert time.monotonic() - started < 0.5, "notify only queues"
        await notifier.close()
    asyncio.run(scenario())


def test_the_webhook_url_must_be_http():
    import pydantic
    import pytest
    with pytest.raises(pydantic.ValidationError, match="url"):
        WebhookConfig(url="file:///etc/passwd")
