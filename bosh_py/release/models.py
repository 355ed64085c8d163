"""Pydantic models for the release format: job and package specs, and ``release.MF``.

Unknown keys are kept (``extra="allow"``) because real BOSH specs carry fields bosh-py
does not use (``logo``, ``example``…) and ``release.MF`` will grow (``compiled_packages``,
``license``); refusing them would make the format brittle for release authors.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Types a job spec may declare for a property; others are accepted but not checked, since
# real BOSH releases use free-form values such as ``certificate`` or ``password``.
CHECKED_PROPERTY_TYPES = ("integer", "string", "boolean", "array", "hash", "number")


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class PropertyDef(_Model):
    """One ``properties.<dotted.name>`` entry of a job spec."""

    description: str | None = None
    default: Any = None
    type: str | None = None


class LinkConsumes(_Model):
    name: str
    type: str
    optional: bool = False


class LinkProvides(_Model):
    name: str
    type: str
    properties: list[str] = Field(default_factory=list)


class JobSpec(_Model):
    """``jobs/<job>/spec`` (``job.MF`` inside a job tarball)."""

    name: str
    description: str | None = None
    templates: dict[str, str] = Field(default_factory=dict)
    packages: list[str] = Field(default_factory=list)
    properties: dict[str, PropertyDef] = Field(default_factory=dict)
    consumes: list[LinkConsumes] = Field(default_factory=list)
    provides: list[LinkProvides] = Field(default_factory=list)

    @field_validator("templates", "properties", mode="before")
    @classmethod
    def _none_is_empty_mapping(cls, v: Any) -> Any:
        return {} if v is None else v

    @field_validator("packages", "consumes", "provides", mode="before")
    @classmethod
    def _none_is_empty_list(cls, v: Any) -> Any:
        return [] if v is None else v

    @field_validator("properties", mode="before")
    @classmethod
    def _bare_property_is_empty_def(cls, v: Any) -> Any:
        # ``nats.user:`` with nothing under it is a property with no description/default.
        if isinstance(v, dict):
            return {k: ({} if d is None else d) for k, d in v.items()}
        return v


class PackageSpec(_Model):
    """``packages/<pkg>/spec``."""

    name: str
    dependencies: list[str] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    excluded_files: list[str] = Field(default_factory=list)

    @field_validator("dependencies", "files", "excluded_files", mode="before")
    @classmethod
    def _none_is_empty_list(cls, v: Any) -> Any:
        return [] if v is None else v


class JobRef(_Model):
    """A job entry of ``release.MF``; ``sha1`` holds ``sha256:<hex>`` of ``jobs/<name>.tgz``."""

    name: str
    version: str
    fingerprint: str
    sha1: str
    packages: list[str] = Field(default_factory=list)


class PackageRef(_Model):
    """A package entry of ``release.MF``; ``sha1`` holds ``sha256:<hex>`` of ``packages/<name>.tgz``."""

    name: str
    version: str
    fingerprint: str
    sha1: str
    dependencies: list[str] = Field(default_factory=list)


class CompiledPackageRef(_Model):
    """A ``compiled_packages`` entry (compiled releases: not produced yet, but readable)."""

    name: str
    version: str
    fingerprint: str
    sha1: str
    stemcell: str
    dependencies: list[str] = Field(default_factory=list)


class ReleaseManifest(_Model):
    """``release.MF``."""

    name: str
    version: str
    commit_hash: str | None = None
    uncommitted_changes: bool | None = None
    jobs: list[JobRef] = Field(default_factory=list)
    packages: list[PackageRef] = Field(default_factory=list)
    compiled_packages: list[CompiledPackageRef] = Field(default_factory=list)

    def to_yaml_dict(self) -> dict[str, Any]:
        """The dict written to ``release.MF``: no nulls, no empty ``compiled_packages``."""
        data = self.model_dump(mode="json", exclude_none=True)
        if not data.get("compiled_packages"):
            data.pop("compiled_packages", None)
        return data


def format_validation_error(exc: Any) -> list[str]:
    """Turn a pydantic ValidationError into ``field/path: message`` lines."""
    lines = []
    for err in exc.errors():
        loc = "/".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"{loc}: {err['msg']}")
    return lines
