"""The Cloud Foundry router: the HTTP entry of the platform.

Split the gorouter way, with the first Cloud Foundry router's data plane (nginx driven by a
small control program):

- ``registry``: the routes table (pure; no I/O), fed by
- ``subscriber``: ``router.register`` / ``router.unregister`` / ``router.greet`` on NATS and
  the ``router.start`` announcement;
- ``nginx_conf`` renders the table as an nginx configuration and ``nginx`` runs nginx as a
  child process and reloads it (debounced) when the rendered configuration changes;
- ``status``: ``/health`` and ``/routes`` on the status port;
- ``app`` wires them together; ``python3 -m cf_platform.router --config router.json``.

Only the standard library and nats-py are used: this runs on the stemcell's python3.
"""
