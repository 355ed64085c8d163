"""Turning the manifest text a CLI sends into what a deploy works on.

The CLI has already applied `-v`, `-l` and `-o`; the director fills the rest from its
credential store, generating what `variables:` asks for and the store lacks, then validates
the whole thing against the cloud-config. Everything here happens before a task exists, so
bad input fails the request at once with a path-precise message and nothing is changed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from bosh_py.director.cpi_registry import cpi_names_in_force
from bosh_py.director.models import CloudConfig, Variable
from bosh_py.director.runtime_configs import runtime_configs_for_deploy
from bosh_py.director.services import Director
from bosh_py.errors import BoshPyError
from bosh_py.manifest.addons import merge_runtime_configs, place_addons
from bosh_py.manifest.cpi_config import check_cloud_config_cpis
from bosh_py.manifest import (ManifestError, check_against_cloud_config, generate_variables,
                              interpolate, load_yaml, parse_cloud_config, parse_deployment, secret_values)


@dataclass
class DeploymentInput:
    manifest: dict  # interpolated, validated
    manifest_text: str  # as sent (placeholders for stored secrets kept)
    cloud_config: dict
    cloud_config_id: int | None
    secret_values: list[str]
    runtime_config_ids: list[int]


def prepare_cloud_config(text: str, cpi_names: list[str]) -> dict:
    """A valid cloud-config whose AZs name CPIs of the cpi-config in force (``cpi_names``;
    empty when there is none, and then no AZ may name a CPI)."""
    doc = load_yaml(text, "cloud-config")
    check_cloud_config_cpis(parse_cloud_config(doc, "cloud-config"), cpi_names)
    return doc


def latest_cloud_config(director: Director, config_id: int | None = None) -> tuple[dict, int]:
    """The newest cloud-config, or the one with ``config_id`` (what a deployment was deployed with)."""
    with director.sessions() as session:
        if config_id is not None:
            row = session.get(CloudConfig, config_id)
        else:
            row = session.scalars(select(CloudConfig).order_by(CloudConfig.id.desc())).first()
    if row is None:
        raise BoshPyError("No cloud-config uploaded yet: run `bosh-py update-cloud-config FILE` first")
    return load_yaml(row.content, "cloud-config"), row.id


def stored_variables(director: Director, deployment: str) -> dict:
    with director.sessions() as session:
        return {v.name: v.value["value"] for v in session.scalars(
            select(Variable).where(Variable.deployment_name == deployment))}


def _store(director: Director, deployment: str, values: dict) -> None:
    with director.sessions.begin() as session:
        for name, value in values.items():
            session.add(Variable(deployment_name=deployment, name=name, value={"value": value}))


def with_runtime_configs(director: Director, raw: dict, ids: list[int] | None) -> tuple[dict, list[int]]:
    """The raw manifest with the runtime-configs ``ids`` (None: those in force) merged in,
    and the ids actually used."""
    configs, used = runtime_configs_for_deploy(director, ids)
    return merge_runtime_configs(raw, configs), used


def prepare_deployment(director: Director, text: str, generate: bool, cloud_config_id: int | None = None,
                       runtime_config_ids: list[int] | None = None) -> DeploymentInput:
    """``cloud_config_id`` and ``runtime_config_ids`` pin the configs a redeploy of a stored
    manifest uses; None takes those in force."""
    raw = load_yaml(text, "manifest")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ManifestError("missing required key 'name'", path="name", source="manifest")
    raw, runtime_config_ids = with_runtime_configs(director, raw, runtime_config_ids)
    store = stored_variables(director, name)
    definitions = raw.get("variables") or []
    missing_generated = generate_variables(definitions, store)
    if generate and missing_generated:
        _store(director, name, missing_generated)
    store = {**store, **missing_generated}
    manifest, _ = interpolate(raw, store, "manifest")
    parsed = parse_deployment(manifest, "manifest")
    manifest = place_addons(manifest, parsed)
    cloud_config, cloud_config_id = latest_cloud_config(director, cloud_config_id)
    cloud = parse_cloud_config(cloud_config, "cloud-config")
    check_cloud_config_cpis(cloud, cpi_names_in_force(director.sessions))
    check_against_cloud_config(parsed, cloud)
    return DeploymentInput(manifest, text, cloud_config, cloud_config_id, sorted(secret_values(store)),
                           runtime_config_ids)
