"""Sample documents shared by the manifest tests: a small but complete deployment and
cloud-config that validate together."""

from __future__ import annotations

from typing import Any

MANIFEST = """\
name: cf
director_uuid: ignored
releases:
- {name: nats, version: 1}
- {name: router, version: "0+dev.3", url: "file:///tmp/router.tgz", sha1: "sha256:abc"}
stemcells:
- {alias: default, os: debian-bookworm, version: latest}
update:
  canaries: 1
  max_in_flight: 25%
  canary_watch_time: 1000-30000
  update_watch_time: 5000
instance_groups:
- name: nats
  azs: [z1, z2]
  instances: 2
  vm_type: small
  stemcell: default
  persistent_disk_type: ten
  networks:
  - name: default
    static_ips: [10.244.0.10 - 10.244.0.11]
  jobs:
  - name: nats
    release: nats
    properties:
      nats: {user: nats, password: ((nats_password))}
- name: router
  azs: [z1]
  instances: 3
  vm_type: small
  vm_extensions: [lb]
  stemcell: default
  networks: [{name: default}]
  update: {max_in_flight: 1, serial: false}
  jobs:
  - name: router
    release: router
    properties:
      port: 80
      tls: ((router_tls))
variables:
- name: nats_password
  type: password
- name: router_tls
  type: certificate
  options: {ca: router_ca, common_name: router.service.internal}
- name: router_ca
  type: certificate
  options: {is_ca: true, common_name: routerCA}
features: {use_dns_addresses: false}
tags: {team: platform}
"""

CLOUD_CONFIG = """\
azs:
- {name: z1}
- {name: z2, cloud_properties: {zone: b}}
vm_types:
- {name: small, cloud_properties: {cpus: 1}}
vm_extensions:
- {name: lb}
disk_types:
- {name: ten, disk_size: 10240}
networks:
- name: default
  type: manual
  subnets:
  - range: 10.244.0.0/24
    gateway: 10.244.0.1
    dns: [10.244.0.1]
    reserved: [10.244.0.2 - 10.244.0.4]
    static: [10.244.0.10 - 10.244.0.20]
    azs: [z1, z2]
- name: public
  type: dynamic
  subnets: [{az: z1}]
- name: vip
  type: vip
compilation:
  workers: 2
  az: z1
  vm_type: small
  network: default
  reuse_compilation_vms: true
"""


def group(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(item for item in doc["instance_groups"] if item["name"] == name)
