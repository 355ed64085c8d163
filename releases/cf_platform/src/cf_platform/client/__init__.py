"""``cf-py``: the platform's command-line client (push, apps, app, scale, start, stop,
restart, delete, logs), a thin httpx client of the cloud controller's v2 API.

Runs on the operator's host (the venv: click, httpx, rich), never on the VMs.
"""
