"""Finding things in one vSphere datacenter, by the names and ids a CPI is given.

VMs and templates are found by their instance UUID through vCenter's search index (one call,
however large the inventory); clusters, datastores and networks by name inside the configured
datacenter only, so a same-named object in another datacenter is never used. Each lookup says
which name was missing and what the datacenter has instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyVmomi import vim

from cpi.libcloud.errors import CloudError, InvalidCall, VMNotFound
from cpi.libcloud.providers import vsphere_errors


class Inventory:
    def __init__(self, content: Any, datacenter_name: str, call: Callable[[Callable[[], Any]], Any]) -> None:
        self.content = content
        self.call = call
        self.datacenter = self._datacenter(datacenter_name)

    def _datacenter(self, name: str) -> Any:
        found = self._view(self.content.rootFolder, vim.Datacenter)
        for datacenter in found:
            if datacenter.name == name:
                return datacenter
        raise InvalidCall(f"CPI config vsphere.datacenter {name!r} is not in vCenter "
                          f"(it has: {', '.join(sorted(d.name for d in found)) or 'none'})")

    def _view(self, root: Any, kind: type) -> list[Any]:
        manager = self.content.viewManager
        view = self.call(lambda: manager.CreateContainerView(root, [kind], True))
        try:
            return list(self.call(lambda: view.view))
        finally:
            self.call(view.Destroy)

    def machine(self, uuid: str, template: bool = False) -> Any:
        """The VM (or, with ``template``, the template) whose instance UUID is ``uuid``; None if
        there is none (a template is never taken for a VM, nor a VM for a template)."""
        if not isinstance(uuid, str) or not uuid:
            return None
        index = self.content.searchIndex
        try:
            found = self.call(lambda: index.FindByUuid(self.datacenter, uuid, True, True))
        except CloudError as error:
            if isinstance(error.__cause__, (vim.fault.InvalidArgument,)) or \
                    vsphere_errors.is_missing(error.__cause__ or error):
                return None
            raise
        if found is None:
            return None
        is_template = bool(self.call(lambda: found.config.template))
        return found if is_template == template else None

    def vm(self, vm_cid: str) -> Any:
        found = self.machine(vm_cid)
        if found is None:
            raise VMNotFound(f"VM {vm_cid} not found")
        return found

    def cluster(self, name: str) -> Any:
        """A cluster (or a standalone host's compute resource) of the datacenter, by name."""
        found = self._view(self.datacenter.hostFolder, vim.ComputeResource)
        return _named(found, name, "cluster", self.datacenter.name)

    def datastore(self, name: str) -> Any:
        return _named(list(self.datacenter.datastore), name, "datastore", self.datacenter.name)

    def network(self, name: str) -> Any:
        """A standard network or distributed port group of the datacenter, by name."""
        return _named(list(self.datacenter.network), name, "network", self.datacenter.name)

    def wait(self, task: Any) -> Any:
        """The task's result once it is done; its fault is raised if it failed."""
        from pyVim.task import WaitForTask

        self.call(lambda: WaitForTask(task))
        return task.info.result


class NotInDatacenter(CloudError):
    """A named cluster, datastore or network is not in the configured datacenter."""


def _named(objects: list[Any], name: str, kind: str, datacenter: str) -> Any:
    for obj in objects:
        if obj.name == name:
            return obj
    names = sorted({obj.name for obj in objects})
    raise NotInDatacenter(f"{kind} {name!r} is not in datacenter {datacenter!r} "
                          f"(it has: {', '.join(names) or 'none'})")
