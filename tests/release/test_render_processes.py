"""The render process a daemon keeps started ahead (isolated_render.RenderProcesses): the next
render uses it and a new one is started; one that died meanwhile is replaced, not used; one
started for other limits is not used; ``close`` ends it. Every process here is real."""

from __future__ import annotations

import asyncio
import os

from bosh_py.agent.procfs import pid_alive
from bosh_py.release.isolated_render import RenderLimits, RenderProcesses, render_isolated
from bosh_py.release.render_worker import RenderRequest
from tests.release.test_render import INSTANCE, job


async def spare_pid(processes: RenderProcesses) -> int:
    assert processes._spare is not None, "no spare started"
    return (await processes._spare).pid


async def render(processes: RenderProcesses, conf: str, limits: RenderLimits = RenderLimits(seconds=2)) -> str:
    [rendered] = await render_isolated([RenderRequest([job(conf)], dict(INSTANCE, index=0), {})], limits, processes)
    return rendered.files["web"]["config/web.conf"]


def test_a_render_uses_the_spare_and_leaves_a_new_one_until_close():
    async def go() -> None:
        processes = RenderProcesses(keep_spare=True)
        processes.start_spare()
        first = await spare_pid(processes)
        assert pid_alive(first)
        assert await render(processes, "{{ spec.index }}-{{ p('web.port') }}") == "0-8080"
        assert not pid_alive(first)  # it rendered, then exited
        second = await spare_pid(processes)
        assert second != first and pid_alive(second)
        assert await render(processes, "again") == "again"
        third = await spare_pid(processes)
        assert third not in (first, second) and not pid_alive(second)
        await processes.close()
        assert not pid_alive(third) and processes._spare is None

    asyncio.run(go())


def test_a_spare_that_died_is_replaced_and_the_render_still_works():
    async def go() -> None:
        processes = RenderProcesses(keep_spare=True)
        processes.start_spare()
        dead = await spare_pid(processes)
        os.kill(dead, 9)
        for _ in range(100):  # until the loop has seen it exit
            if processes._spare is not None and (await processes._spare).returncode is not None:
                break
            await asyncio.sleep(0.02)
        assert await render(processes, "after a dead spare") == "after a dead spare"
        assert pid_alive(await spare_pid(processes))
        await processes.close()

    asyncio.run(go())


def test_other_limits_get_their_own_process_and_no_spare_without_keep_spare():
    async def go() -> None:
        processes = RenderProcesses(keep_spare=True)
        processes.start_spare()
        default = await spare_pid(processes)
        assert await render(processes, "small", RenderLimits(seconds=2, memory_mib=64)) == "small"
        assert not pid_alive(default)  # ended, not left behind
        assert pid_alive(await spare_pid(processes))
        await processes.close()

        plain = RenderProcesses()
        plain.start_spare()
        assert plain._spare is None
        assert await render(plain, "fresh") == "fresh"
        assert plain._spare is None

    asyncio.run(go())
