"""Manifests: load, ((var)) interpolation, ops files, validation with path-precise errors,
variable generation, IP pools, update arithmetic, redaction and diff. Pure functions; the
only I/O is reading files the caller names (``load_yaml_file``).

Typical director flow::

    doc = load_yaml(text, "manifest.yml")
    for name, ops in ops_files: doc = apply_ops(doc, ops, name)
    defs = doc.get("variables", [])
    store.update(generate_variables(defs, store))          # only what is missing
    doc, _ = interpolate(doc, merge_variable_sources(kvs, var_files, store), "manifest.yml")
    manifest = parse_deployment(doc, "manifest.yml")
    check_against_cloud_config(manifest, parse_cloud_config(cc_doc, "cloud-config"), "manifest.yml")
"""

from bosh_py.manifest.diff import REDACTED, diff, redact, secret_values
from bosh_py.manifest.errors import ManifestError, named_path
from bosh_py.manifest.interpolate import (
    find_variable_names,
    interpolate,
    merge_variable_sources,
    parse_var_kv,
    variable_paths,
)
from bosh_py.manifest.load import load_yaml, load_yaml_file
from bosh_py.manifest.models import CloudConfig, DeploymentManifest
from bosh_py.manifest.network import SubnetIPs, allocate_dynamic_ip, expand_ip_entries, parse_ip_entries
from bosh_py.manifest.ops import apply_ops, parse_ops
from bosh_py.manifest.update import ResolvedUpdate, parse_percent_or_int, parse_watch_time, resolve_update
from bosh_py.manifest.validate import (
    check_against_cloud_config,
    check_cloud_config,
    check_deployment,
    parse_cloud_config,
    parse_deployment,
)
from bosh_py.manifest.variables import generate_variables

__all__ = [
    "REDACTED", "CloudConfig", "DeploymentManifest", "ManifestError", "ResolvedUpdate", "SubnetIPs",
    "allocate_dynamic_ip", "apply_ops", "check_against_cloud_config", "check_cloud_config",
    "check_deployment", "diff", "expand_ip_entries", "find_variable_names", "generate_variables",
    "interpolate", "load_yaml", "load_yaml_file", "merge_variable_sources", "named_path",
    "parse_cloud_config", "parse_deployment", "parse_ip_entries", "parse_ops",
    "parse_percent_or_int", "parse_var_kv", "parse_watch_time", "redact", "resolve_update",
    "secret_values", "variable_paths",
]
