"""One instance from BORN to STOPPED or CRASHED.

BORN: droplet fetched (cached by sha1) and unpacked into the instance's directory, owned
by the instance's uid. STARTING: the container runs the start command; the health check
waits for the port. RUNNING: routes registered. An exit the DEA did not ask for is a crash:
routes unregistered, container removed (processes, cgroups, app files; the logs stay for
``crash_lifetime`` so the CC can still show them), ``droplet.exited`` with reason CRASHED.
A stop goes STOPPING (routes unregistered), SIGTERM then SIGKILL, STOPPED, and removes
everything.

Each instance's slot (its port minus the start of the port range) gives it its uid and its
container's /30; the DEA maps ``<dea ip>:<port>`` to the container (``nat``) while the
instance holds the port, and the app listens on that same port inside its own network
namespace, where it can bind nothing of the VM's.

What the outside world hears is behind the ``Notifier`` protocol, so this module knows
nothing about NATS.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from . import app_env, archive, container_net, health, logs, nat
from .cgroups import CgroupError, CgroupSet
from .config import DeaConfig
from .container import HOME, SETUP_FAILED, Bind, Container, ContainerSpec
from .droplets import DropletCache
from .instance import ROUTED_STATES, Instance, State
from .ports import PortPool
from .protocol import EXIT_CRASHED, EXIT_DEA_EVACUATION, EXIT_STOPPED
from .registry import InstanceRegistry
from .staging import STAGING_INFO

log = logging.getLogger(__name__)


class Notifier(Protocol):
    async def running(self, instance: Instance) -> None: ...          # register routes
    async def leaving(self, instance: Instance) -> None: ...          # unregister routes
    async def exited(self, instance: Instance, reason: str) -> None: ...  # droplet.exited


@dataclass
class InstanceManager:
    config: DeaConfig
    notifier: Notifier
    cgroups_enabled: bool
    registry: InstanceRegistry = field(default_factory=InstanceRegistry)
    containers: dict[str, Container] = field(default_factory=dict)
    tasks: dict[str, asyncio.Task] = field(default_factory=dict)
    stopping: dict[str, asyncio.Task] = field(default_factory=dict)  # stops under way, by instance id

    def __post_init__(self) -> None:
        config = self.config
        self.ports = PortPool(config.port_range_start, config.port_range_end)
        self.droplets = DropletCache(config.droplets_dir, config.max_bits_mb * 1024 * 1024)
        self.pool = container_net.parse_pool(config.container_network)
        nats_hosts = [urlsplit(server).hostname or "" for server in config.nats.servers]
        deny = nat.deny_list(config.container_deny_egress, nats_hosts, nat.own_ipv4_networks())
        self.nat = nat.PortMapper(config.ip, str(self.pool), config.port_range_start, config.port_range_end, deny)
        self.nat.reset()  # also removes what a previous DEA process left

    # --- start ----------------------------------------------------------------------------

    def start(self, instance: Instance) -> None:
        """Take the instance on (BORN) and bring it up in the background."""
        instance.directory = self.config.instances_dir / instance.instance_id
        self.registry.add(instance)
        task = asyncio.ensure_future(self._run(instance))
        self.tasks[instance.instance_id] = task
        task.add_done_callback(lambda _t, iid=instance.instance_id: self.tasks.pop(iid, None))

    async def _run(self, instance: Instance) -> None:
        try:
            instance.port = self.ports.acquire()
            command = await asyncio.to_thread(self._prepare, instance)
        except Exception as error:  # noqa: BLE001 - any failure before the app runs is a crash
            log.warning("instance %s of %s failed to start: %s", instance.instance_id, instance.name, error)
            if instance.state == State.BORN:
                await self._crash(instance, None, f"failed to start: {error}")
            return
        if instance.state != State.BORN:  # stopped while the droplet was coming: undo _prepare
            if instance.directory is not None:
                await asyncio.to_thread(shutil.rmtree, instance.directory, True)
            return
        network = container_net.for_slot(self.pool, self._slot(instance))
        container = Container(self._container_spec(instance, command, network), self._cgroups(instance))
        self.containers[instance.instance_id] = container
        try:
            await asyncio.to_thread(self.nat.map, instance.port, network.container_ip)
            await container.start()
        except Exception as error:  # noqa: BLE001
            await self._crash(instance, None, f"failed to create the container: {error}")
            return
        instance.started_at = container.started_at
        instance.set_state(State.STARTING)
        log.info("instance %s of %s (index %d) starting on port %d", instance.instance_id, instance.name,
                 instance.index, instance.port)
        exited = asyncio.ensure_future(container.wait())
        healthy = await health.wait_for_port(self.config.ip, instance.port, self.config.health_check_timeout,
                                             exited)
        if instance.state != State.STARTING:  # stopped meanwhile; stop() finishes the job
            return
        if healthy:
            instance.set_state(State.RUNNING)
            log.info("instance %s of %s is running", instance.instance_id, instance.name)
            await self.notifier.running(instance)
        elif not exited.done():
            await container.kill()
            await self._crash(instance, await exited,
                              f"app instance never opened its port {instance.port} within "
                              f"{self.config.health_check_timeout:g} s")
            return
        status = await exited
        if instance.state in (State.STARTING, State.RUNNING, State.EVACUATING):
            await self._crash(instance, status, None)

    def _prepare(self, instance: Instance) -> str:
        """Droplet → <instance>/app owned by the instance's uid; returns the start command.
        Blocking (runs in a thread)."""
        droplet = self.droplets.fetch(instance.droplet_uri, instance.sha1)
        assert instance.directory is not None
        app_dir = instance.directory / "app"
        (instance.directory / "logs").mkdir(parents=True, exist_ok=True)
        os.chmod(instance.directory, 0o700)
        archive.untar(droplet, app_dir, self.config.max_bits_mb * 1024 * 1024, only="app")
        uid = self._uid(instance)
        for dirpath, dirnames, filenames in os.walk(app_dir):
            for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
                os.lchown(name, uid, uid)
        command = instance.start_command
        if not command:
            info = archive.read_member(droplet, STAGING_INFO)
            command = json.loads(info).get("start_command") if info else None
        if not command:
            raise ValueError("no start command: none in the start message nor in the droplet")
        instance.start_command = command
        return command

    def _slot(self, instance: Instance) -> int:
        assert instance.port is not None
        return instance.port - self.config.port_range_start

    def _uid(self, instance: Instance) -> int:
        return self.config.container_uid_base + self._slot(instance)

    def _cgroups(self, instance: Instance) -> CgroupSet | None:
        if not self.cgroups_enabled:
            return None
        return CgroupSet(self.config.cgroup_root, self.config.cgroup_parent, instance.instance_id)

    def _container_spec(self, instance: Instance, command: str,
                        network: container_net.ContainerNetwork) -> ContainerSpec:
        assert instance.directory is not None and instance.port is not None
        return ContainerSpec(
            instance_id=instance.instance_id, directory=instance.directory, uid=self._uid(instance),
            mem_mb=instance.limits.mem, fds=instance.limits.fds, pids_max=self.config.pids_max,
            env=app_env.build(instance, instance.port, self.config.ip), command=command,
            binds=(Bind(instance.directory / "app", HOME, writable=True),),
            network=network)

    # --- crash ----------------------------------------------------------------------------

    async def _crash(self, instance: Instance, status: int | None, description: str | None) -> None:
        was_running = instance.state in ROUTED_STATES
        instance.set_state(State.CRASHED)
        if was_running:
            await self.notifier.leaving(instance)
        container = self.containers.pop(instance.instance_id, None)
        oom = False
        if container is not None:
            await container.kill()
            oom = container.oom_killed()
            await self._destroy(container, instance.port)
        instance.exit_status = status
        instance.exit_description = description or _describe_exit(status, oom, instance)
        log.warning("instance %s of %s (index %d) crashed: %s", instance.instance_id, instance.name,
                    instance.index, instance.exit_description)
        if instance.directory is not None:
            await asyncio.to_thread(shutil.rmtree, instance.directory / "app", True)
        self.ports.release(instance.port)
        await self.notifier.exited(instance, EXIT_CRASHED)

    async def _destroy(self, container: Container, port: int | None) -> None:
        """Remove the container and its port mapping (before the port can be handed out again)."""
        try:
            await asyncio.to_thread(container.destroy)
        except CgroupError as error:
            log.error("container %s not fully removed: %s", container.spec.instance_id, error)
        if port is not None:
            try:
                await asyncio.to_thread(self.nat.unmap, port)
            except nat.NatError as error:
                log.error("port %d of container %s not unmapped: %s", port, container.spec.instance_id, error)

    # --- stop -----------------------------------------------------------------------------

    async def stop(self, instance: Instance, reason: str = EXIT_STOPPED) -> None:
        """Stop an instance (any state); crashed ones are just forgotten. A stop already
        under way (it waits ``unregister_grace``) is awaited, not repeated, and finishes even
        when its caller is cancelled: the DEA shutting down must not leave its container."""
        under_way = self.stopping.get(instance.instance_id)
        if under_way is None:
            if instance.state in (State.STOPPING, State.STOPPED):
                return
            under_way = asyncio.ensure_future(self._stop(instance, reason))
            self.stopping[instance.instance_id] = under_way
            under_way.add_done_callback(lambda _: self.stopping.pop(instance.instance_id, None))
        await asyncio.shield(under_way)

    async def _stop(self, instance: Instance, reason: str) -> None:
        if instance.state == State.CRASHED:
            await self.forget(instance)
            return
        was_running = instance.state in ROUTED_STATES
        instance.set_state(State.STOPPING)
        if was_running:
            await self.notifier.leaving(instance)
            if instance.uris:  # the routers take it out of their tables before it stops answering
                await asyncio.sleep(self.config.unregister_grace)
        container = self.containers.pop(instance.instance_id, None)
        if container is not None:
            await container.stop(self.config.stop_timeout)
            instance.exit_status = await container.wait() if container.process else None
            await self._destroy(container, instance.port)
        instance.exit_description = {EXIT_STOPPED: "stopped by the DEA",
                                     EXIT_DEA_EVACUATION: "the DEA's evacuation timed out"}.get(reason, "DEA shut down")
        instance.set_state(State.STOPPED)
        log.info("instance %s of %s (index %d) stopped", instance.instance_id, instance.name, instance.index)
        await self.notifier.exited(instance, reason)
        await self.forget(instance)

    async def forget(self, instance: Instance) -> None:
        """Remove the instance's files and record (it is STOPPED or CRASHED)."""
        self.registry.remove(instance.instance_id)
        if instance.state != State.CRASHED:  # a crash gave its port back already (maybe reused)
            self.ports.release(instance.port)
        if instance.directory is not None:
            await asyncio.to_thread(shutil.rmtree, instance.directory, True)

    async def stop_all(self, reason: str) -> None:
        """Stop every instance (the DEA is leaving) and remove the DEA's nft table."""
        await asyncio.gather(*(self.stop(i, reason) for i in self.registry), return_exceptions=True)
        await asyncio.to_thread(self.nat.teardown)

    # --- questions --------------------------------------------------------------------------

    def usage(self, instance: Instance) -> dict:
        container = self.containers.get(instance.instance_id)
        if container is None or not container.alive:
            return {"mem": 0, "cpu": 0.0, "disk": 0}
        return container.usage()

    def log_tails(self, instance: Instance) -> dict[str, str]:
        if instance.directory is None:
            return {"stdout": "", "stderr": ""}
        return logs.tails(instance.directory / "logs", self.config.log_tail_lines)

    def in_use_droplets(self) -> set[str]:
        return {i.sha1 for i in self.registry.active() if i.sha1}


def _describe_exit(status: int | None, oom: bool, instance: Instance) -> str:
    if oom:
        return f"out of memory: the app went over its {instance.limits.mem} MB limit and was killed"
    if status is None:
        return "app instance exited"
    if status == SETUP_FAILED:
        tail = ""
        if instance.directory is not None:
            tail = logs.tail(instance.directory / "logs" / "container.log", 5).strip()
        return f"the container failed to start{': ' + tail if tail else ''}"
    if status > 128:
        return f"app instance was killed by signal {status - 128}"
    return f"app instance exited with status {status}"
