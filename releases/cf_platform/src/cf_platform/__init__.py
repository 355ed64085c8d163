"""The classic Cloud Foundry components as Python services, shipped in releases/cf.

The same source runs on the VMs (packaged by releases/cf/packages/cf-platform, with nats-py
vendored beside it) and on the operator's host (installed into the venv: the `cf-py` client
and the unit tests import it). On a VM it may use only the standard library and nats-py.
"""
