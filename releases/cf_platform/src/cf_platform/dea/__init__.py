"""The DEA (Droplet Execution Agent): stages apps into droplets and runs their instances.

One module per concern, like bosh-agent's one file per action:

- ``config``: the JSON config the job template renders.
- ``agent``: the NATS side (subjects of releases/cf/README.md), timers, shutdown.
- ``staging`` with ``buildpacks``, ``archive``, ``transfer``: bits in, droplet out.
- ``lifecycle``: one instance from BORN to STOPPED/CRASHED (droplet, container, health
  check, routes, exit); ``registry``, ``instance``, ``ports``, ``resources``.
- ``container``, ``cgroups``, ``container_init``: Warden-like containers (PID, mount, IPC
  and UTS namespaces, cgroup v1 memory and pids limits, an unprivileged uid).
- ``protocol``: every message shape in one place; ``discover``: the classic delay.

On a VM this runs with the stemcell's python3 and nats-py only.
"""
