"""The CC's database from before orgs and spaces: its apps land in the default org's default
space when a CC of this version starts on it, and stay reachable through the API."""

from __future__ import annotations

import sqlite3

import httpx

from tests.cf.cc.plumbing import end_process

from .tenancy_support import ADMIN_PASSWORD, bearer, start_cc_with_uaa, token_of

# the apps table as the CC created it before tenancy (no space_guid)
OLD_APPS = """CREATE TABLE apps (
    guid TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, memory INTEGER NOT NULL, instances INTEGER NOT NULL,
    disk_quota INTEGER NOT NULL, state TEXT NOT NULL, package_state TEXT NOT NULL, version TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, buildpack TEXT, environment TEXT NOT NULL DEFAULT '{}',
    bits_sha1 TEXT, package_updated_at TEXT, droplet_sha1 TEXT, detected_buildpack TEXT, start_command TEXT,
    staging_failed_reason TEXT, staging_failed_description TEXT, staging_log TEXT NOT NULL DEFAULT '',
    staging_task_id TEXT)"""


def test_apps_of_an_old_database_land_in_the_default_space(tmp_path, nats_server, dea, uaa, crypto_package):
    store = tmp_path / "cc" / "store"
    store.mkdir(parents=True)
    db = sqlite3.connect(store / "cloud_controller.sqlite3")
    db.execute(OLD_APPS)
    db.execute("INSERT INTO apps (guid, name, memory, instances, disk_quota, state, package_state, version, "
               "created_at, updated_at) VALUES ('old-guid', 'legacy', 128, 1, 1024, 'STOPPED', 'PENDING', 'v1', "
               "'2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')")
    db.commit()
    db.close()
    cc = start_cc_with_uaa(tmp_path / "cc", nats_server, uaa.url, crypto_package)
    try:
        admin = bearer(token_of(uaa.url, "admin", ADMIN_PASSWORD))
        app = httpx.get(f"{cc.url}/v2/apps/old-guid", headers=admin)
        assert app.status_code == 200, app.text
        space_guid = app.json()["entity"]["space_guid"]
        space = httpx.get(f"{cc.url}/v2/spaces/{space_guid}", headers=admin).json()
        assert space["entity"]["name"] == "default"
        org = httpx.get(f"{cc.url}/v2/organizations/{space['entity']['organization_guid']}", headers=admin).json()
        assert org["entity"]["name"] == "default"
        # the app keeps working: renamed through the API
        r = httpx.put(f"{cc.url}/v2/apps/old-guid", headers=admin, json={"name": "legacy2"})
        assert r.status_code == 201, r.text
    finally:
        end_process(cc.proc)
    # a second start changes nothing (the migration is idempotent)
    cc = start_cc_with_uaa(tmp_path / "cc", nats_server, uaa.url, crypto_package)
    try:
        admin = bearer(token_of(uaa.url, "admin", ADMIN_PASSWORD))
        app = httpx.get(f"{cc.url}/v2/apps/old-guid", headers=admin).json()
        assert app["entity"]["name"] == "legacy2" and app["entity"]["space_guid"] == space_guid
    finally:
        end_process(cc.proc)
