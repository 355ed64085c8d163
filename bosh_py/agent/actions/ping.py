"""ping: the director's "are you there" (wait_until_ready)."""

ASYNC = False


async def run(ctx) -> str:
    return "pong"
