"""reboot_vm(vm_cid): refused. The machines are the operator's: this CPI never reboots one."""

from cpi.protocol import NotImplementedFailure
from cpi.ssh.context import Context


def run(ctx: Context, vm_cid: str) -> None:
    raise NotImplementedFailure(f"the ssh CPI does not reboot the operator's machines (VM {vm_cid}); "
                                "recreate the instance instead")
