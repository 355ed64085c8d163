"""Build BOSH light stemcells: a tarball that names a cloud image instead of carrying one.

On a cloud the operating system image already lives in the IaaS (an AMI per EC2 region, a
Glance image, a vSphere template), so the stemcell the director uploads holds only
``stemcell.MF`` (name, version, operating_system, stemcell_formats and the
``cloud_properties`` that say which image) and an empty ``image`` file, as BOSH's own
``light-bosh-stemcell-*.tgz`` do. The director hands those cloud_properties to the CPI's
``create_stemcell``, which checks the image exists and returns its id.

What a stemcell needs per IaaS is declared in ``stemcells/<iaas>/light-stemcell.yml``
(data, not code), so adding an IaaS is adding a definition. The tarball is deterministic
(same inputs, same bytes) and written atomically: a failed build leaves no file behind.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bosh_py.errors import BoshPyError

DEFINITION_FILE = "light-stemcell.yml"
# stemcells/ at the top of a source checkout (the CLI names known definitions from it).
STEMCELLS_DIR = Path(__file__).resolve().parents[2] / "stemcells"
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]+")
VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+-]{0,63}")
NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,127}")
EMPTY_IMAGE_DIGEST = "sha256:" + hashlib.sha256(b"").hexdigest()


class LightStemcellError(BoshPyError):
    """A light stemcell definition or a ``--set`` value is wrong; the message names which."""


@dataclass(frozen=True)
class CloudProperty:
    """One key the IaaS's create_stemcell needs in ``cloud_properties``."""

    name: str
    pattern: re.Pattern[str]
    example: str
    description: str
    per_region: bool = False  # a map {region: value} (EC2's ``ami``), else one string

    def usage(self) -> str:
        key = f"{self.name}.<region>" if self.per_region else self.name
        return f"--set {key}={self.example}"


@dataclass(frozen=True)
class LightDefinition:
    """A parsed ``stemcells/<iaas>/light-stemcell.yml``."""

    source: Path
    name: str
    version: str
    operating_system: str
    stemcell_formats: tuple[str, ...]
    api_version: int
    properties: tuple[CloudProperty, ...]

    def property(self, name: str) -> CloudProperty | None:
        return next((p for p in self.properties if p.name == name), None)


@dataclass(frozen=True)
class LightStemcell:
    """What was built: where, and the manifest written into it."""

    path: Path
    manifest: dict[str, Any]


def known_definitions(root: Path = STEMCELLS_DIR) -> list[str]:
    """The light stemcell definitions shipped in the source tree (``aws``, ``openstack`` …)."""
    if not root.is_dir():
        return []
    return sorted(d.name for d in root.iterdir() if (d / DEFINITION_FILE).is_file())


def load_definition(location: Path) -> LightDefinition:
    """A definition directory (or its ``light-stemcell.yml``, or the name of one shipped in
    ``stemcells/`` such as ``aws``) → :class:`LightDefinition`."""
    location = Path(location)
    if not location.exists() and location.name in known_definitions() and len(location.parts) == 1:
        location = STEMCELLS_DIR / location.name
    source = location if location.name == DEFINITION_FILE else location / DEFINITION_FILE
    if not source.is_file():
        known = ", ".join(str(STEMCELLS_DIR / name) for name in known_definitions()) or "none found"
        raise LightStemcellError(f"unknown light stemcell definition '{location}': no {DEFINITION_FILE} "
                                 f"there (known: {known})")
    try:
        doc = yaml.safe_load(source.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise LightStemcellError(f"{source}: cannot read: {error}") from error
    if not isinstance(doc, dict):
        raise LightStemcellError(f"{source}: expected a map at the top level")
    unknown = sorted(set(doc) - {"name", "version", "operating_system", "stemcell_formats",
                                 "api_version", "cloud_properties"})
    if unknown:
        raise LightStemcellError(f"{source}: unknown key '{unknown[0]}'")
    formats = doc.get("stemcell_formats")
    if (not isinstance(formats, list) or not formats
            or not all(isinstance(f, str) and NAME.fullmatch(f) for f in formats)):
        raise LightStemcellError(f"{source}: stemcell_formats: expected a non-empty list of format names")
    api_version = doc.get("api_version", 2)
    if not isinstance(api_version, int) or isinstance(api_version, bool):
        raise LightStemcellError(f"{source}: api_version: expected integer")
    properties = doc.get("cloud_properties")
    if not isinstance(properties, dict) or not properties:
        raise LightStemcellError(f"{source}: cloud_properties: expected a map naming at least one key")
    return LightDefinition(
        source=source,
        name=_checked(source, "name", doc.get("name"), NAME),
        version=_checked(source, "version", str(doc.get("version", "")), VERSION),
        operating_system=_checked(source, "operating_system", doc.get("operating_system"), NAME),
        stemcell_formats=tuple(formats),
        api_version=api_version,
        properties=tuple(_cloud_property(source, key, spec) for key, spec in properties.items()),
    )


def _checked(source: Path, key: str, value: Any, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise LightStemcellError(f"{source}: {key}: expected a name matching {pattern.pattern}, "
                                 f"found {value!r}")
    return value


def _cloud_property(source: Path, key: Any, spec: Any) -> CloudProperty:
    where = f"{source}: cloud_properties/{key}"
    if not isinstance(key, str) or not NAME.fullmatch(key) or not isinstance(spec, dict):
        raise LightStemcellError(f"{where}: expected a property name with a map "
                                 "(pattern, example, description)")
    unknown = sorted(set(spec) - {"pattern", "example", "description", "per_region"})
    if unknown:
        raise LightStemcellError(f"{where}: unknown key '{unknown[0]}'")
    try:
        pattern = re.compile(str(spec.get("pattern", "")))
    except re.error as error:
        raise LightStemcellError(f"{where}/pattern: not a regular expression: {error}") from error
    example = str(spec.get("example", ""))
    if not pattern.fullmatch(example):
        raise LightStemcellError(f"{where}/example: '{example}' does not match its own pattern")
    return CloudProperty(name=key, pattern=pattern, example=example,
                         description=str(spec.get("description", "")),
                         per_region=bool(spec.get("per_region", False)))


def cloud_properties_from(definition: LightDefinition, assignments: Iterable[str]) -> dict[str, Any]:
    """``KEY=VALUE`` settings (``ami.us-east-1=ami-…``, ``image_id=…``) → cloud_properties.

    Every key must be one the definition declares, every value must match its pattern, each
    key is set once, and every declared property must end up set.
    """
    result: dict[str, Any] = {}
    seen: set[str] = set()
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise LightStemcellError(f"--set '{assignment}': expected KEY=VALUE")
        if key in seen:
            raise LightStemcellError(f"--set {key}: given twice")
        seen.add(key)
        name, _, region = key.partition(".")
        prop = definition.property(name)
        if prop is None:
            declared = ", ".join(p.name for p in definition.properties)
            raise LightStemcellError(f"--set {key}: unknown cloud property '{name}' for "
                                     f"{definition.name} (it takes: {declared})")
        if prop.per_region and not region:
            raise LightStemcellError(f"--set {key}: '{name}' is per region: {prop.usage()}")
        if not prop.per_region and region:
            raise LightStemcellError(f"--set {key}: '{name}' is one value, not a map: {prop.usage()}")
        if prop.per_region and not REGION.fullmatch(region):
            raise LightStemcellError(f"--set {key}: '{region}' is not a region name (e.g. us-east-1)")
        if not prop.pattern.fullmatch(value):
            raise LightStemcellError(f"--set {key}: malformed {name} '{value}' "
                                     f"(expected {prop.description}, e.g. {prop.example})")
        if prop.per_region:
            result.setdefault(name, {})[region] = value
        else:
            result[name] = value
    for prop in definition.properties:
        if prop.name not in result:
            raise LightStemcellError(f"cloud property '{prop.name}' is required for "
                                     f"{definition.name} ({prop.description}): {prop.usage()}")
    return {name: dict(sorted(value.items())) if isinstance(value, dict) else value
            for name, value in sorted(result.items())}


def stemcell_manifest(definition: LightDefinition, cloud_properties: dict[str, Any],
                      version: str | None = None, name: str | None = None) -> dict[str, Any]:
    """The ``stemcell.MF`` document, keys in BOSH's order.

    ``name`` overrides the definition's: a deployment spanning several CPIs resolves its
    stemcell to one name and version, of which each CPI must hold a copy, so the stemcells
    of the clouds it spans are built under one name and version."""
    version = definition.version if version is None else version
    if not VERSION.fullmatch(version):
        raise LightStemcellError(f"--version '{version}': expected letters, digits and . _ + - "
                                 "(e.g. 1.0 or 1.0.3)")
    name = definition.name if name is None else name
    if not NAME.fullmatch(name):
        raise LightStemcellError(f"--name '{name}': expected letters, digits and . _ - "
                                 "(e.g. bosh-py-debian-bookworm)")
    return {
        "name": name,
        "version": version,
        "operating_system": definition.operating_system,
        "stemcell_formats": list(definition.stemcell_formats),
        "api_version": definition.api_version,
        "sha1": EMPTY_IMAGE_DIGEST,
        "cloud_properties": cloud_properties,
    }


def tarball_bytes(manifest: dict[str, Any]) -> bytes:
    """A gzipped tar of ``stemcell.MF`` and an empty ``image``, byte-for-byte reproducible:
    fixed times, owners and modes, and no file name or time in the gzip header."""
    text = yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False).encode()
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as compressed, \
            tarfile.open(fileobj=compressed, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in (("stemcell.MF", text), ("image", b"")):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def write_atomically(data: bytes, output: Path) -> None:
    """Write ``data`` to a temp file beside ``output``, then rename: never half a file."""
    output = Path(output)
    if output.is_dir():
        raise LightStemcellError(f"--output {output}: is a directory, expected a file path")
    if not output.parent.is_dir():
        raise LightStemcellError(f"--output {output}: directory {output.parent} does not exist")
    partial: str | None = None
    try:
        handle, partial = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".partial", dir=output.parent)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(partial, 0o644)  # a light stemcell holds no secret
        os.replace(partial, output)
    except BaseException as error:
        if partial is not None:
            Path(partial).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise LightStemcellError(f"--output {output}: cannot write: {error}") from error
        raise


def default_output(manifest: dict[str, Any]) -> Path:
    """BOSH's file name for a light stemcell, in the current directory."""
    return Path(f"light-{manifest['name']}-{manifest['version']}.tgz")


def build_light_stemcell(location: Path, assignments: Iterable[str], version: str | None = None,
                         output: Path | None = None, name: str | None = None) -> LightStemcell:
    """Check everything first, then write the tarball in one rename; return what was built."""
    definition = load_definition(location)
    manifest = stemcell_manifest(definition, cloud_properties_from(definition, assignments), version, name)
    path = Path(output) if output is not None else default_output(manifest)
    write_atomically(tarball_bytes(manifest), path)
    return LightStemcell(path, manifest)
