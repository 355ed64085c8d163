"""Director-side RPC to agents over NATS (BOSH's nats_rpc.rb + agent_client.rb).

Wire format (REFERENCE.md section 4): the director publishes
``{"protocol": 3, "method", "arguments": [...], "reply_to"}`` on ``agent.<agent_id>`` with
``reply_to = director.<director_uuid>.<agent_id>.<request_uuid>``; the agent answers on
``reply_to`` with ``{"value": ...}`` or ``{"exception": {"message": ...}}``.

Why not nats-py's request(): its reply inbox is ``_INBOX.*``, which an agent is not
allowed to publish to. Instead one ``ReplyRouter`` per director connection subscribes
``director.<uuid>.>`` once and hands each reply to the waiting call by its ``reply_to``.

Blob access follows the messages: with a ``BlobGrants`` table (the director's), each
``apply``/``prepare``/``compile_package``/``fetch_logs`` grants the agent exactly the blobs
that message needs just before it is sent (bosh_py/director/blob_grants.py). Uploads go to
an id the director chooses and passes in the arguments; ``run`` adds one when the caller
did not and, when it hands out grants, refuses a result naming any other blob.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from bosh_py.mbus.errors import AgentError, AgentTimeoutError


class AgentUnresponsive(AgentTimeoutError):
    """The agent did not answer (or could not be sent to) in time: the VM may be gone or
    hung. A subclass of ``AgentTimeoutError`` (and so of ``AgentError``): older callers'
    ``except AgentTimeoutError`` still catch it."""

    def __init__(self, agent_id: str, method: str, message: str) -> None:
        super().__init__(message)
        self.agent_id = agent_id
        self.method = method


class AgentTaskFailed(AgentError):
    """The agent answered with an exception: the action ran and failed (a script exited
    non-zero, a bad spec...). ``str(e)`` is the agent's own message."""

    def __init__(self, agent_id: str, method: str, message: str) -> None:
        super().__init__(message)
        self.agent_id = agent_id
        self.method = method

# method -> position of the upload id in its arguments (bosh_py/director/blob_grants.py)
UPLOAD_ARGUMENT = {"compile_package": 5, "fetch_logs": 2}
UPLOAD_DEFAULTS: dict[str, list[Any]] = {"fetch_logs": ["job", None]}

DEFAULT_TIMEOUT = 45.0  # BOSH's RPC timeout


class ReplyRouter:
    """One subscription for all replies to this director; futures keyed by reply subject.

    ``prefix_agent_id`` narrows the subscription to one agent (used when an AgentClient is
    made without a shared router, e.g. in a one-off tool)."""

    def __init__(self, nc: Any, director_uuid: str, prefix_agent_id: str | None = None,
                 grants: Any = None):
        self.nc = nc
        self.director_uuid = director_uuid
        # what agents may do in the blobstore: BlobGrants, a worker's RemoteAgentAccess, or None
        self.grants = grants
        self._subject = (f"director.{director_uuid}.{prefix_agent_id}.*" if prefix_agent_id
                         else f"director.{director_uuid}.>")
        self._pending: dict[str, asyncio.Future] = {}
        self._sub: Any = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        async with self._lock:
            if self._sub is None:
                self._sub = await self.nc.subscribe(self._subject, cb=self._on_reply)
                await self.nc.flush()  # the subscription is in place before any request

    async def close(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    def client(self, agent_id: str, timeout: float = DEFAULT_TIMEOUT) -> "AgentClient":
        return AgentClient(self.nc, self.director_uuid, agent_id, timeout, router=self)

    def expect(self, reply_to: str) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self._pending[reply_to] = fut
        return fut

    def forget(self, reply_to: str) -> None:
        self._pending.pop(reply_to, None)

    async def _on_reply(self, msg: Any) -> None:
        fut = self._pending.pop(msg.subject, None)
        if fut is None or fut.done():
            return  # late reply to a timed-out call
        try:
            fut.set_result(json.loads(msg.data))
        except ValueError as e:
            fut.set_exception(AgentError(f"Invalid reply on {msg.subject}: {e}"))


class AgentClient:
    """Talk to one agent. ``call`` is one request/reply; ``run`` also follows long tasks."""

    def __init__(self, nc: Any, director_uuid: str, agent_id: str,
                 timeout: float = DEFAULT_TIMEOUT, *, router: ReplyRouter | None = None,
                 grants: Any = None):
        self.nc = nc
        self.director_uuid = director_uuid
        self.agent_id = agent_id
        self.timeout = timeout
        self.router = router or ReplyRouter(nc, director_uuid, prefix_agent_id=agent_id, grants=grants)
        self.grants = grants if grants is not None else self.router.grants

    async def call(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        """Send one request; return the agent's ``value``; raise ``AgentTaskFailed`` on its
        exception and ``AgentUnresponsive`` when it stays silent."""
        await self.router.start()
        timeout = self.timeout if timeout is None else timeout
        reply_to = f"director.{self.director_uuid}.{self.agent_id}.{uuid.uuid4().hex}"
        fut = self.router.expect(reply_to)
        payload = {"protocol": 3, "method": method, "arguments": list(args), "reply_to": reply_to}
        if self.grants is not None:
            await self.grants.grant(self.agent_id, method, list(args))
        try:
            try:
                await self.nc.publish(f"agent.{self.agent_id}", json.dumps(payload).encode())
            except Exception as e:  # connection closed, payload too large, ...
                raise AgentUnresponsive(self.agent_id, method, f"Cannot send '{method}' to agent "
                                        f"{self.agent_id}: {e or type(e).__name__}") from None
            reply = await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise AgentUnresponsive(self.agent_id, method,
                                    f"Timed out sending '{method}' to agent {self.agent_id} after {timeout:g}s") from None
        finally:
            self.router.forget(reply_to)
        if not isinstance(reply, dict):
            raise AgentError(f"Agent {self.agent_id} sent an invalid reply to '{method}'")
        if "exception" in reply:
            exc = reply["exception"]
            message = exc.get("message") if isinstance(exc, dict) else str(exc)
            raise AgentTaskFailed(self.agent_id, method, str(message or f"Agent {self.agent_id} failed '{method}'"))
        return reply.get("value")

    async def run(self, method: str, *args: Any, poll_interval: float = 0.1,
                  timeout: float | None = None) -> Any:
        """Call ``method``; if the agent answers with a running task, poll ``get_task``
        until it finishes and return its result. Polls start at 50 ms and double up to
        ``poll_interval`` (BOSH polls every second; short tasks such as a cached apply or a
        start finish long before that). ``timeout`` bounds the whole task (None: no bound;
        each poll still has the RPC timeout)."""
        started = time.monotonic()
        args, upload_id = with_upload_id(method, args)
        try:
            value = await self.call(method, *args)
            delay = min(0.05, poll_interval)
            while _is_running_task(value):
                task_id = value["agent_task_id"]
                if timeout is not None and time.monotonic() - started > timeout:
                    raise AgentUnresponsive(self.agent_id, method, f"Agent {self.agent_id} did not finish "
                                            f"'{method}' (task {task_id}) within {timeout:g}s")
                await asyncio.sleep(delay)
                delay = min(delay * 2, poll_interval)
                try:
                    value = await self.call("get_task", task_id)
                except AgentTaskFailed as failed:  # the task's failure is the action's, not get_task's
                    raise AgentTaskFailed(self.agent_id, method, str(failed)) from None
        finally:
            if upload_id is not None and self.grants is not None:
                await self.grants.release_upload(self.agent_id, upload_id)
        if upload_id is not None and self.grants is not None and uploaded_blob_id(method, value) != upload_id:
            raise AgentError(f"Agent {self.agent_id} answered '{method}' with a blob other than "
                             f"the {upload_id} it was asked to write")
        return value

    async def wait_until_ready(self, timeout: float = 600.0, ping_timeout: float = 5.0) -> None:
        """Ping until the agent answers (a new VM's agent takes a while to connect).

        NATS drops a message nobody subscribes to yet, so an early ping is simply lost;
        the per-ping wait therefore starts at 0.25 s and doubles up to ``ping_timeout``,
        which finds an agent within a fraction of a second of it subscribing while not
        flooding a slow one."""
        deadline = time.monotonic() + timeout
        wait = min(0.25, ping_timeout)
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                await self.call("ping", timeout=min(wait, remaining))
                return
            except AgentTimeoutError:
                wait = min(wait * 2, ping_timeout)
            except AgentError:  # it answered, even if oddly: it is up
                return
        raise AgentUnresponsive(self.agent_id, "ping", f"Timed out pinging agent {self.agent_id} after {timeout:g}s")

    # Convenience wrappers named like BOSH's agent_client.rb ------------------------------

    async def ping(self, timeout: float | None = None) -> str:
        """One ping; ``AgentUnresponsive`` when no answer within ``timeout`` (default: the RPC timeout)."""
        return await self.call("ping", timeout=timeout)

    async def get_state(self, full: bool = False) -> dict:
        return await self.call("get_state", *(["full"] if full else []))

    async def apply(self, spec: dict) -> Any:
        return await self.run("apply", spec)

    async def prepare(self, spec: dict) -> Any:
        return await self.run("prepare", spec)

    async def start(self) -> Any:
        return await self.run("start")

    async def stop(self, *, lifecycle: bool = False, skip_drain: bool = False, drain_type: str = "shutdown",
                   next_spec: dict | None = None, next_state: dict | None = None) -> Any:
        """Stop the jobs. ``lifecycle=False`` (the default, as before): only the processes.
        ``lifecycle=True``: the whole way down on the agent, as BOSH runs it: pre-stop (env
        BOSH_{VM,INSTANCE,DEPLOYMENT}_NEXT_STATE from ``next_state``, e.g. ``{"deployment":
        "delete"}``; each defaults to "keep"), drain (``drain_type`` with ``next_spec``;
        none when ``skip_drain``), stop, post-stop. A failing script raises ``AgentTaskFailed``
        naming the job."""
        if not lifecycle:
            return await self.run("stop")
        options: dict[str, Any] = {"lifecycle": True, "skip_drain": skip_drain, "drain_type": drain_type,
                                   "next_state": next_state or {}}
        if next_spec is not None:
            options["next_spec"] = next_spec
        return await self.run("stop", options)

    async def drain(self, drain_type: str = "shutdown", spec: dict | None = None) -> int:
        return await self.run("drain", drain_type, *([spec] if spec is not None else []))

    async def run_script(self, name: str, options: dict | None = None) -> Any:
        return await self.run("run_script", name, options or {})

    async def compile_package(self, blobstore_id: str, digest: str, name: str, version: str,
                              deps: dict, result_blobstore_id: str | None = None) -> dict:
        """``result_blobstore_id``: where the agent must upload the result (new if None)."""
        return await self.run("compile_package", blobstore_id, digest, name, version, deps,
                              *([result_blobstore_id] if result_blobstore_id else []))

    async def mount_disk(self, disk_cid: str, hint: Any) -> Any:
        return await self.run("mount_disk", disk_cid, hint)

    async def unmount_disk(self, disk_cid: str) -> Any:
        return await self.run("unmount_disk", disk_cid)

    async def list_disk(self) -> list:
        return await self.call("list_disk")

    async def fetch_logs(self, log_type: str = "job", filters: list | None = None) -> dict:
        return await self.run("fetch_logs", log_type, filters)

    async def update_settings(self, settings: dict) -> Any:
        return await self.call("update_settings", settings)


def with_upload_id(method: str, args: tuple[Any, ...]) -> tuple[tuple[Any, ...], str | None]:
    """The arguments with the id the agent must upload to (added when missing), and that id."""
    index = UPLOAD_ARGUMENT.get(method)
    if index is None:
        return args, None
    padded = list(args) + UPLOAD_DEFAULTS.get(method, [])[len(args):index]
    if len(padded) < index:
        return args, None  # too few arguments: the agent will say so
    if len(padded) == index or not padded[index]:
        padded[index:index + 1] = [uuid.uuid4().hex]
    return tuple(padded), str(padded[index])


def uploaded_blob_id(method: str, value: Any) -> Any:
    """The blob id an upload method's result names."""
    if method == "compile_package":
        value = value.get("result") if isinstance(value, dict) else None
    return value.get("blobstore_id") if isinstance(value, dict) else None


def _is_running_task(value: Any) -> bool:
    return (isinstance(value, dict) and "agent_task_id" in value
            and value.get("state") == "running")
