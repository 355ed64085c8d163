"""One module per agent action (like bosh-agent's agent/action/*.go). Each module has
``ASYNC`` (True: run as a task, answered with its result if it ends within
tasks.INLINE_WAIT, else with a task id polled with get_task) and
``async def run(ctx, *arguments)``."""

from types import ModuleType

from bosh_py.agent.actions import (apply, cancel_task, compile_package, drain, fetch_logs,
                                   get_state, get_task, list_disk, mount_disk, ping, prepare,
                                   run_errand, run_script, start, stop, unmount_disk, update_settings)

ACTIONS: dict[str, ModuleType] = {
    "ping": ping, "get_state": get_state, "get_task": get_task, "cancel_task": cancel_task,
    "prepare": prepare, "apply": apply, "start": start, "stop": stop, "drain": drain,
    "run_script": run_script, "run_errand": run_errand, "compile_package": compile_package,
    "mount_disk": mount_disk, "unmount_disk": unmount_disk, "list_disk": list_disk,
    "fetch_logs": fetch_logs, "update_settings": update_settings,
}
