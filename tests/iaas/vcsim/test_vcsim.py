"""The vcsim harness itself: what each patch fixes, the login, the certificate, the clean stop."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest
from cryptography import x509
from libcloud.compute.drivers.vsphere import VSphereNodeDriver
from pyVim.connect import Disconnect, SmartConnect
from pyVim.task import WaitForTask
from pyVmomi import vim

from tests.iaas.vcsim import Vcsim
from tests.iaas.vcsim.build import recipe_key, vcsim_binary


@pytest.fixture
def server() -> Iterator[Vcsim]:
    running = Vcsim.start()
    try:
        yield running
    finally:
        running.stop()


def test_libcloud_lists_the_vms_walking_up_to_the_root_folder(server: Vcsim) -> None:
    """libcloud reads each VM's parents up to the root folder, whose parent is unset
    (patches/fetch-unset-property.patch: vcsim 0.24 panicked there)."""
    driver = VSphereNodeDriver(server.host, server.username, server.password, port=server.port,
                               ca_cert=str(server.ca_cert_path))
    names = sorted(node.name for node in driver.list_nodes())
    assert names == ["DC0_C0_RP0_VM0", "DC0_H0_VM0"]


def test_a_virtual_disk_managers_task_reads_back(server: Vcsim) -> None:
    """A task run by a manager names no entity (patches/task-entity-is-managed-entity.patch:
    vcsim 0.24 named the manager, which pyvmomi 8+ refuses to read)."""
    si = server.connect()
    try:
        content = si.RetrieveContent()
        datacenter = content.rootFolder.childEntity[0]
        spec = vim.VirtualDiskManager.FileBackedVirtualDiskSpec(
            diskType="thin", adapterType="lsiLogic", capacityKb=1024)
        task = content.virtualDiskManager.CreateVirtualDisk_Task(
            name="[LocalDS_0] probe.vmdk", datacenter=datacenter, spec=spec)
        WaitForTask(task)
        assert task.info.result == "[LocalDS_0] probe.vmdk" and task.info.entity is None
    finally:
        Disconnect(si)


def test_only_the_generated_login_is_accepted(server: Vcsim) -> None:
    context = ssl.create_default_context(cafile=str(server.ca_cert_path))
    with pytest.raises(vim.fault.InvalidLogin):
        SmartConnect(host=server.host, port=server.port, user=server.username, pwd="wrong",
                     sslContext=context)


def test_the_certificate_is_2048_bit_for_127_0_0_1_only(server: Vcsim) -> None:
    context = ssl.create_default_context(cafile=str(server.ca_cert_path))
    with socket.create_connection((server.host, server.port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    with socket.create_connection((server.host, server.port), timeout=10) as raw, \
            pytest.raises(ssl.SSLCertVerificationError):
        context.wrap_socket(raw, server_hostname="localhost")
    cert = x509.load_pem_x509_certificate(server.ca_cert_path.read_bytes())
    assert cert.public_key().key_size == 2048


def test_stop_ends_the_process_and_removes_its_files() -> None:
    running = Vcsim.start()
    datastores = list((running.workdir / "tmp").iterdir())
    assert datastores and all(p.name.startswith("govcsim-") for p in datastores)
    running.stop()
    assert running.process.returncode is not None and not running.workdir.exists()


def test_the_build_is_cached_by_recipe() -> None:
    binary = vcsim_binary()
    assert binary.parent.name == recipe_key() and vcsim_binary() == binary
