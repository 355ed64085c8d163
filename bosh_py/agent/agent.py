"""The agent process: NATS connection, message dispatch, heartbeats, and bringing jobs
back after a restart.

Requests arrive on ``agent.<agent_id>``; each is handled in its own asyncio task so a slow
request never delays a ping. Replies go to the request's ``reply_to``. Long actions are
turned into tasks (see tasks.py); one that ends quickly is answered with its result."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import signal
from pathlib import Path
from typing import Any

import nats

from bosh_py.agent.actions import ACTIONS
from bosh_py.agent.context import ActionContext
from bosh_py.agent.disk_hints import parse_hint, wait_for_disk
from bosh_py.agent.heartbeat import alert_subject, exit_alert, heartbeat_payload, heartbeat_subject
from bosh_py.agent.mounts import is_mounted, mount_disk
from bosh_py.agent.natsurl import connect_options, redact
from bosh_py.agent.paths import Paths
from bosh_py.agent.settings import Settings
from bosh_py.agent.state import AgentState
from bosh_py.agent.supervisor import ProcessExit, Supervisor
from bosh_py.agent.tasks import TaskManager, exception_reply
from bosh_py.agent.vcap_user import ensure_vcap_user
from bosh_py.agent.vitals import VitalsSampler
from bosh_py.errors import BoshPyError


class Agent:
    def __init__(self, paths: Paths, settings_path: Path, log: logging.Logger):
        self.paths = paths
        self.settings_path = settings_path
        self.log = log
        self.nc: Any = None
        self._background: set[asyncio.Task] = set()
        self.ctx: ActionContext | None = None

    # --- lifecycle ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        self.paths.ensure_layout()
        ensure_vcap_user(self.paths.root, self.log)
        settings = Settings.load(self.settings_path)
        self.ctx = ActionContext(
            paths=self.paths, settings_path=self.settings_path, settings=settings,
            state=AgentState.load(self.paths.state_json),
            supervisor=Supervisor(self.paths, self._on_process_exit, self.log),
            tasks=TaskManager(self.log), vitals=VitalsSampler(self.paths), log=self.log)
        self.log.info("agent %s starting (root %s)", settings.agent_id, self.paths.root)
        await self._restore()
        self.nc = await self._connect(stop)
        if self.nc is None:
            return
        await self.nc.subscribe(f"agent.{settings.agent_id}", cb=self._on_message)
        await self.nc.flush()
        self.log.info("listening on agent.%s", settings.agent_id)
        heartbeats = asyncio.create_task(self._heartbeats())
        await stop.wait()
        self.log.info("agent stopping (jobs keep running)")
        heartbeats.cancel()
        for t in list(self._background):
            t.cancel()
        try:
            await asyncio.wait_for(self.nc.drain(), 5)
        except Exception:
            pass

    async def _restore(self) -> None:
        """After a restart or reboot: mount the persistent disk again and start the jobs
        if they should be running (no pre-start: it ran when they were first started)."""
        ctx = self.ctx
        for cid, info in list(ctx.state.disks.items()):
            if not is_mounted(self.paths.store):
                try:
                    device = await asyncio.to_thread(wait_for_disk, parse_hint(info["hint"]), self.paths.root)
                    await asyncio.to_thread(mount_disk, device, self.paths.store)
                    self.log.info("remounted disk %s", cid)
                except Exception as e:
                    self.log.error("cannot remount disk %s: %s", cid, e)
        if ctx.state.desired_job_state == "running":
            try:
                await ctx.supervisor.start()
                self.log.info("jobs restarted after agent start")
            except Exception as e:
                self.log.error("cannot restart jobs: %s", e)

    async def _connect(self, stop: asyncio.Event) -> Any:
        settings = self.ctx.settings
        options = connect_options(settings.mbus)
        delay = 1.0
        while not stop.is_set():
            try:
                nc = await nats.connect(
                    **options, name=f"bosh-py-agent {settings.agent_id}",
                    allow_reconnect=True, max_reconnect_attempts=-1, reconnect_time_wait=1,
                    connect_timeout=5, error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected, reconnected_cb=self._on_reconnected)
                self.log.info("connected to %s", redact(settings.mbus))
                return nc
            except Exception as e:
                self.log.warning("cannot connect to %s: %s; retrying in %gs",
                                 redact(settings.mbus), e or type(e).__name__, delay)
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except asyncio.TimeoutError:
                    pass
                delay = min(delay * 2, 10.0)
        return None

    async def _on_error(self, e: Exception) -> None:
        self.log.warning("nats: %s", e or type(e).__name__)

    async def _on_disconnected(self) -> None:
        self.log.warning("disconnected from NATS, reconnecting")

    async def _on_reconnected(self) -> None:
        self.log.info("reconnected to NATS")

    # --- outgoing -----------------------------------------------------------------------

    async def publish(self, subject: str, payload: Any) -> None:
        if self.nc is None or self.nc.is_closed:
            return
        try:
            await self.nc.publish(subject, json.dumps(payload).encode())
        except Exception as e:
            self.log.warning("cannot publish on %s: %s", subject, e)

    async def _heartbeats(self) -> None:
        while True:
            try:
                await self.publish(heartbeat_subject(self.ctx.settings.agent_id),
                                   heartbeat_payload(self.ctx))
            except Exception:
                self.log.exception("heartbeat failed")
            await asyncio.sleep(max(0.1, self.ctx.settings.heartbeat_interval))

    def _spawn(self, coro: Any) -> None:
        t = asyncio.create_task(coro)
        self._background.add(t)
        t.add_done_callback(self._background.discard)

    def _on_process_exit(self, event: ProcessExit) -> None:
        alert = exit_alert(event, self.ctx.load_spec())
        self._spawn(self.publish(alert_subject(self.ctx.settings.agent_id), alert))

    # --- incoming -----------------------------------------------------------------------

    async def _on_message(self, msg: Any) -> None:
        self._spawn(self._handle(msg))

    async def _handle(self, msg: Any) -> None:
        try:
            request = json.loads(msg.data)
            method = str(request["method"])
            args = request.get("arguments") or []
            reply_to = request.get("reply_to") or msg.reply
            if not isinstance(args, list):
                raise ValueError("arguments must be a list")
        except (ValueError, KeyError, TypeError) as e:
            self.log.warning("ignoring malformed request: %s", e)
            return
        self.log.info("request %s (%s)", method, str(reply_to).rsplit(".", 1)[-1])
        reply = await self.dispatch(method, args)
        if reply_to:
            data = json.dumps(reply).encode()
            if len(data) > self.nc.max_payload:
                data = json.dumps({"exception": {"message": f"Reply to '{method}' is too large "
                                                            f"({len(data)} bytes)"}}).encode()
            try:
                await self.nc.publish(reply_to, data)
            except Exception as e:
                self.log.warning("cannot reply to %s: %s", method, e)

    async def dispatch(self, method: str, args: list[Any]) -> dict[str, Any]:
        action = ACTIONS.get(method)
        if action is None:
            return {"exception": {"message": f"unknown message {method}"}}
        try:
            inspect.signature(action.run).bind(self.ctx, *args)
        except TypeError as e:
            return {"exception": {"message": f"Wrong arguments for '{method}': {e}"}}
        if action.ASYNC:  # answered at once if it ends within tasks.INLINE_WAIT, else polled
            return await self.ctx.tasks.run(method, lambda: action.run(self.ctx, *args))
        try:
            value = await action.run(self.ctx, *args)
        except Exception as e:
            if not isinstance(e, BoshPyError):
                self.log.exception("%s failed", method)
            return exception_reply(e)
        if getattr(action, "RAW_REPLY", False):
            return value
        return {"value": value}
