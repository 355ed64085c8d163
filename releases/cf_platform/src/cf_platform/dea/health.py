"""The instance health check: the app's port accepts a TCP connection (dea_ng's port check).

Polled until the timeout, or until the app exits (no point waiting for a dead process).
"""

from __future__ import annotations

import asyncio


async def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return True


async def wait_for_port(host: str, port: int, timeout: float, exited: asyncio.Future,
                        interval: float = 0.2) -> bool:
    """True once the port accepts connections; False on timeout or when ``exited`` is done."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if exited.done():
            return False
        if await port_open(host, port):
            return True
        await asyncio.wait([exited], timeout=interval)
    return False
