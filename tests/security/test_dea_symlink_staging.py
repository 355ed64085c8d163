"""Attack: app bits whose symlinks resolve outside the app (issue 6).

The issue's chain: ``a/b/…/l/up -> ../../…`` then ``root -> a/b/…/l/up/../../…``; each looks
contained to a lexical check, together they resolve to ``/``. With ``x.py ->
root/var/vcap/bosh/settings.json`` the python buildpack's compileall used to read the
agent's root-only settings into a ``.pyc`` that shipped in the droplet. Pushed as a real
zip, staged over real NATS by a real DEA that sees a DEA VM's /var/vcap.
"""

from __future__ import annotations

import gzip
import uuid

import pytest

from tests.cf.dea.helpers import zip_with_links
from tests.cf.dea.conftest import (BLOBSTORE_SECRET, SETTINGS_SECRET, dea_net, fake_cc, nats_server,  # noqa: F401
                                   needs_root, vm_dea, watcher)

pytestmark = [needs_root, pytest.mark.timeout(300)]

DEPTH = 12   # deeper than the DEA's staging directory (<base>/data/staging/<id>/app)


def symlink_chain_zip(secret_path: str) -> bytes:
    deep = "/".join(f"d{n}" for n in range(DEPTH))
    entries = [("app.py", "print('hello')\n", False),
               (f"{deep}/up", "/".join([".."] * DEPTH), True),
               ("root", f"{deep}/up/" + "/".join([".."] * DEPTH), True),
               ("x.py", "root" + secret_path, True)]
    return zip_with_links(entries)


def test_a_symlink_chain_cannot_ship_root_only_files_in_the_droplet(watcher, vm_dea, fake_cc):
    guid = uuid.uuid4().hex
    fake_cc.bits[guid] = symlink_chain_zip("/var/vcap/bosh/settings.json")
    reply = watcher.request(f"staging.{vm_dea.id}.start", {
        "app_id": guid, "name": "chain", "bits_uri": fake_cc.url(guid, "bits"),
        "droplet_upload_uri": fake_cc.url(guid, "droplet"), "buildpack": None, "limits": {"mem": 128}}, 60)
    droplet = fake_cc.droplets.get(guid, b"")
    unpacked = gzip.decompress(droplet) if droplet else b""
    for secret in (SETTINGS_SECRET, BLOBSTORE_SECRET):
        assert secret.encode() not in unpacked
        assert secret not in str(reply)
    assert reply.get("error") == ("symlink 'root' points outside the app: "
                                  f"{'d0/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/d11/up/' + '/'.join(['..'] * DEPTH)!r}")
    assert not droplet
