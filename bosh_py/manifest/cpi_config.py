"""The cpi-config (BOSH's ``cpis:``): which CPIs the director may use at once, by name.

    cpis:
    - name: aws-east          # what cloud-config AZs name in their ``cpi``
      type: libcloud          # the CPI's kind; maps to its executable (below)
      exec_path: /opt/cpi     # optional: any executable speaking the CPI protocol
      properties: {...}       # the CPI's own JSON config (credentials included)

Pure shape and naming checks; the director stores it and writes each CPI's properties as
that CPI's private config file. ``redact_cpi_config`` is what may leave the director.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field

from bosh_py.manifest.errors import ManifestError, join_path
from bosh_py.manifest.interpolate import variable_paths
from bosh_py.manifest.models import Map, Model
from bosh_py.manifest.validate import _Report, labels, model_from

SOURCE = "cpi-config"
REDACTED = "<redacted>"
# A CPI's name becomes a file name under the director's data dir and shows in listings.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
# ``type`` → the executable installed beside the director (a venv's bin/). Nothing else in
# the director depends on a CPI's type.
EXECUTABLE_BY_TYPE = {"local": "bosh-py-cpi-local", "libcloud": "bosh-py-cpi-libcloud", "ssh": "bosh-py-cpi-ssh",
                      "dummy": "bosh-py-cpi-dummy"}  # dummy: cpi/dummy, for tests (docs/cpi-dummy.md)
# The director's own CPI keeps this name (rows made before any cpi-config carry it).
RESERVED_NAMES = frozenset({"default"})
# Property keys whose values are credentials: never printed, whatever the CPI.
_CREDENTIAL_KEY = re.compile(
    r"pass(word|wd|phrase)?$|passw|secret|token|credential|private|access_key|api_key|auth_key|"
    r"(^|_)key$|certificate|(^|_)cert$", re.IGNORECASE)
_PEM = re.compile(r"-----BEGIN [A-Z ]+-----")


class CpiEntry(Model):
    name: Annotated[str, Field(strict=True, min_length=1)]
    type: Annotated[str, Field(strict=True, min_length=1)]
    exec_path: Annotated[str, Field(strict=True, min_length=1)] | None = None
    properties: Map = {}
    migrated_from: list[Map] = []  # BOSH's field; accepted, not used yet


class CpiConfigDoc(Model):
    cpis: list[CpiEntry] = []

    def names(self) -> list[str]:
        return [cpi.name for cpi in self.cpis]

    def get(self, name: str) -> CpiEntry | None:
        return next((cpi for cpi in self.cpis if cpi.name == name), None)


def parse_cpi_config(doc: Any, source: str = SOURCE) -> CpiConfigDoc:
    """A cpi-config document → validated :class:`CpiConfigDoc`; every problem at once,
    each naming its path (``cpis/aws-east/type``, or ``cpis/1/name`` when unnamed)."""
    config = model_from(CpiConfigDoc, doc, source)
    report = _Report(source)
    names = config.names()
    report.duplicates("cpis", names, "cpi")
    for step, cpi in zip(labels(names), config.cpis):
        base = join_path("cpis", step)
        if not NAME_PATTERN.fullmatch(cpi.name):
            report.add(join_path(base, "name"), f"'{cpi.name}' is not a valid CPI name "
                       f"(letters, digits, '_', '.', '-'; at most 63; starting with a letter or digit)")
        elif cpi.name in RESERVED_NAMES:
            report.add(join_path(base, "name"), f"'{cpi.name}' is the name of the director's own CPI; "
                       f"choose another")
        if cpi.exec_path is None and cpi.type not in EXECUTABLE_BY_TYPE:
            report.add(join_path(base, "type"), f"unknown CPI type '{cpi.type}' (known: "
                       f"{', '.join(sorted(EXECUTABLE_BY_TYPE))}); give exec_path for another CPI")
        if cpi.exec_path is not None and not cpi.exec_path.startswith("/"):
            report.add(join_path(base, "exec_path"), f"'{cpi.exec_path}' must be an absolute path")
    report.raise_if_any()
    return config


def check_no_placeholders(doc: Any, source: str = SOURCE) -> None:
    """The director writes properties as given: a ``((var))`` still in them would reach the
    CPI as a literal (and a credential would be missing). Its values come from -v / -l."""
    report = _Report(source)
    for path, names in variable_paths(doc).items():
        listed = ", ".join(f"'{name}'" for name in names)
        report.add(path, f"variable {listed} is not set: pass it to update-cpi-config with -v or -l")
    report.raise_if_any()


def is_credential_key(key: object) -> bool:
    return isinstance(key, str) and bool(_CREDENTIAL_KEY.search(key))


def redact_properties(value: Any, secret: bool = False) -> Any:
    """A copy where every value under a credential-looking key, and every string holding
    a PEM block or a URL with a password, reads ``<redacted>``."""
    if isinstance(value, dict):
        return {key: redact_properties(item, secret or is_credential_key(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_properties(item, secret) for item in value]
    if secret and value is not None:
        return REDACTED
    if isinstance(value, str) and (_PEM.search(value) or re.search(r"://[^/@\s]*:[^/@\s]*@", value)):
        return REDACTED
    return value


def redact_cpi_config(doc: Any) -> Any:
    """The cpi-config as it may be shown: each CPI's credential properties redacted."""
    if not isinstance(doc, dict):
        return doc
    cpis = doc.get("cpis")
    if not isinstance(cpis, list):
        return doc
    shown = []
    for cpi in cpis:
        if isinstance(cpi, dict) and "properties" in cpi:
            cpi = {**cpi, "properties": redact_properties(cpi["properties"])}
        shown.append(cpi)
    return {**doc, "cpis": shown}


def check_cloud_config_cpis(cloud_config: Any, cpi_names: list[str], source: str = "cloud-config") -> None:
    """Each AZ must name a CPI of the cpi-config when one is in force, and may name none
    otherwise; with a cpi-config, a cloud-config needs AZs (a VM's AZ says which CPI makes it)."""
    azs = getattr(cloud_config, "azs", [])
    report = _Report(source)
    defined = "'" + "', '".join(sorted(cpi_names)) + "'" if cpi_names else "none"
    if cpi_names and not azs:
        report.add("azs", "a cpi-config is in force, so the cloud-config must define azs, each naming its cpi")
    for step, az in zip(labels([az.name for az in azs]), azs):
        path = join_path("azs", step, "cpi")
        if not cpi_names:
            if az.cpi is not None:
                report.add(path, f"cpi '{az.cpi}' is not defined: no cpi-config is in force "
                           f"(`bosh-py update-cpi-config`)")
        elif az.cpi is None:
            report.add(path, f"missing: a cpi-config is in force, so every az names its cpi (defined: {defined})")
        elif az.cpi not in cpi_names:
            report.add(path, f"cpi '{az.cpi}' is not defined in the cpi-config (defined: {defined})")
    report.raise_if_any()


__all__ = [
    "EXECUTABLE_BY_TYPE",
    "CpiConfigDoc",
    "CpiEntry",
    "ManifestError",
    "check_cloud_config_cpis",
    "check_no_placeholders",
    "is_credential_key",
    "parse_cpi_config",
    "redact_cpi_config",
    "redact_properties",
]
