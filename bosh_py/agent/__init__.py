"""The bosh-py agent: runs on every VM, answers the director over NATS, installs jobs and
packages, supervises job processes, sends heartbeats and alerts.

Pure stdlib + nats-py (+ PyYAML's pure-Python part for monit files), because it ships as
one zipapp (see ``bundle.py``) to VMs that have only Debian's python3. Nothing here may
import the rest of bosh_py except ``bosh_py.errors``.
"""
