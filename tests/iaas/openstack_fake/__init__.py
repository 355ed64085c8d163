"""A stateful OpenStack API emulator for the libcloud CPI's tests (a test harness, not a product).

No maintained OpenStack simulator serves libcloud's ``OpenStack_2_NodeDriver`` (mimic speaks only
Keystone v2; openstackinabox patches requests in-process and has no Nova), so this package serves,
over real HTTP on 127.0.0.1, the calls that driver makes, shaped as the OpenStack API reference
gives them:

- Keystone v3: password auth scoped to one project (``POST /v3/auth/tokens``), token in
  ``X-Subject-Token``, a catalog with compute (nova), image (glance), network (neutron) and
  volumev3 (cinderv3) / block-storage endpoints. Every other call needs that token (else 401).
- Nova v2.1: servers (create with flavor, image, availability_zone, networks by ``uuid``, with a
  ``fixed_ip`` or by ``port``, key_name, security_groups, base64 user_data, metadata; show, list,
  delete, reboot, os-start/os-stop, metadata get/replace/merge), volume attachments (attach with or
  without a device, list, show, detach), os-interface, flavors, key pairs, availability zones.
- Glance v2: list and show images (seeded; no upload).
- Neutron v2.0: networks, subnets, ports (fixed-IP allocation from the subnet's pool or a given
  address, a port for a fixed IP, update, delete), security groups.
- Cinder v3: volumes (create, with size/AZ/snapshot checks; show, list, delete, metadata,
  os-extend), snapshots (create, show, list, delete) and the available/in-use state attach and
  detach move a volume through.

Errors carry the service's own status and body: Nova/Cinder ``{"itemNotFound": {...}}``,
``badRequest``, ``conflictingRequest``, ``forbidden``; Neutron ``{"NeutronError": {"type": ...}}``;
Keystone ``{"error": {...}}`` with 401 for any bad credential. A server create checks flavor, image,
zone, key, security groups, user data, metadata and networks before making anything, and removes
the ports it made if a later step fails, so a failed create leaves no server or port behind.

Fault injection (test-only, ``admin.py``; never part of OpenStack's API): under ``/__fake/``, with the
per-emulator admin token (``OpenStackFake.admin`` is the client), a test can make the next N requests
matching a service, method and path regex answer an error status (429/503 throttling, Nova's 403 quota
answer, any body) or find every Keystone token expired; make the next servers Nova accepts stay in BUILD
for some reads and then go ACTIVE or to ERROR with Nova's ``fault`` ("No valid host was found."),
optionally leaking their ports when deleted; and read the log of every API request with its status
(to count retries and re-authentications).

Deliberate simplifications (what a test must not rely on):

- No asynchrony unless a boot outcome is armed: servers are ACTIVE, volumes ``available`` /
  ``in-use`` and snapshots ``available`` as soon as the call returns; deletes take effect at once.
- One user, one project, one region, one availability zone ("nova") by default; no roles, quotas
  only for instances (``Cloud.quota_instances``, 403 as Nova's quota error), no pagination (all
  items in one page), only the query filters listed in the code.
- A requested attach device (``/dev/vdX``) is honoured if free; real Nova on libvirt may ignore it,
  so callers must re-read the attachment for the device, as they must on a real cloud.
- Deleting an attached volume is Cinder's 400 ``badRequest`` (InvalidVolume), as real Cinder does
  (not 409). IPv4 only; no routers, floating IPs or image upload. ``config_drive`` is checked and
  shown as Nova shows it ("True" or ""), but no drive contents exist.
- The server view includes ``OS-EXT-SRV-ATTR:user_data`` (admin-only microversion 2.3+ on a real
  cloud) so tests can see the user data a VM would read.

State lives in memory in ``Cloud`` and dies with the server. Start one with ``OpenStackFake().start()``
(tests/iaas/conftest.py's ``openstack_fake`` fixture does, and stops it afterwards).
"""

from .app import OpenStackFake
from .cloud import Cloud, Credentials

__all__ = ["Cloud", "Credentials", "OpenStackFake"]
