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

import importlib
from typing import Any

# Plain YAML work, loaded with the package (cheap; two of them share a name with their module,
# which a lazy export could not tell apart).
from bosh_py.manifest.diff import REDACTED, diff, redact, secret_values
from bosh_py.manifest.errors import ManifestError, named_path
from bosh_py.manifest.interpolate import (find_variable_names, interpolate, merge_variable_sources, parse_var_kv,
                                          variable_paths)
from bosh_py.manifest.load import load_yaml, load_yaml_file
from bosh_py.manifest.ops import apply_ops, parse_ops

# Loaded on first use (PEP 562): these need the pydantic models or cryptography, which take
# ~0.35 s to import, and the CLI's interpolation never needs them. name -> submodule.
_LAZY = {
    "models": ("CloudConfig", "DeploymentManifest"),
    "network": ("SubnetIPs", "allocate_dynamic_ip", "expand_ip_entries", "parse_ip_entries"),
    "update": ("ResolvedUpdate", "parse_percent_or_int", "parse_watch_time", "resolve_update"),
    "validate": ("check_against_cloud_config", "check_cloud_config", "check_deployment",
                 "parse_cloud_config", "parse_deployment"),
    "variables": ("generate_variables",),
}
_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}

__all__ = [
    "REDACTED", "diff", "redact", "secret_values", "ManifestError", "named_path", "find_variable_names",
    "interpolate", "merge_variable_sources", "parse_var_kv", "variable_paths", "load_yaml", "load_yaml_file",
    "apply_ops", "parse_ops",
]
__all__ += sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
