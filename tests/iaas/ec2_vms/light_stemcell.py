"""A BOSH light stemcell for the harness's AMI: ``stemcell.MF`` naming the AMI per region
and an empty ``image``, as BOSH's light-bosh-stemcell tarballs are (the director hands
``cloud_properties`` to the CPI's create_stemcell, which checks the AMI exists)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import yaml

from tests.cpi_libcloud.support import REGION

NAME = "bosh-py-aws-debian-bookworm"
OPERATING_SYSTEM = "debian-bookworm"  # what deployments/nats.yml asks for


def write_light_stemcell(path: Path, ami: str, version: str = "1.0") -> Path:
    manifest = yaml.safe_dump({"name": NAME, "version": version, "operating_system": OPERATING_SYSTEM,
                               "stemcell_formats": ["aws-light"], "api_version": 2, "sha1": "",
                               "cloud_properties": {"ami": {REGION: ami}}}, sort_keys=False).encode()
    with tarfile.open(path, "w:gz") as archive:
        for name, data in (("stemcell.MF", manifest), ("image", b"")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path
