"""cf-py's service commands, run as users run them, against a real CC, the PostgreSQL broker
and a real PostgreSQL server."""

from __future__ import annotations

import psycopg


def test_marketplace_create_bind_unbind_delete(cf, pg_broker, pg, app_dir, dea):
    assert "No service brokers found" in cf.ok("service-brokers")
    out = cf.ok("create-service-broker", "pg", pg_broker.username, "-", pg_broker.url,
                env={"CF_PY_BROKER_PASSWORD": pg_broker.password})
    assert "OK" in out
    assert "pg" in cf.ok("service-brokers") and pg_broker.password not in cf.ok("service-brokers")
    market = cf.ok("marketplace")
    assert "postgresql" in market and "default" in market
    missing = cf("create-service", "nosuch", "default", "db")
    assert missing.returncode == 1 and "Service offering nosuch not found" in missing.stderr
    bad_plan = cf("create-service", "postgresql", "huge", "db")
    assert bad_plan.returncode == 1 and "Plan huge of service postgresql not found (plans: default)" in bad_plan.stderr
    assert "OK" in cf.ok("create-service", "postgresql", "default", "db", "--wait")
    cf.ok("push", "hello", "-p", str(app_dir))
    out = cf.ok("bind-service", "hello", "db")
    assert "Binding service db to app hello" in out
    services = cf.ok("services")
    assert "db" in services and "postgresql" in services and "hello" in services and "create succeeded" in services
    cf.ok("restart", "hello")
    creds = dea.starts[-1]["services"][0]["credentials"]
    with psycopg.connect(host=creds["hostname"], port=creds["port"], user=creds["username"],
                         password=creds["password"], dbname=creds["name"], connect_timeout=5) as conn:
        conn.execute("SELECT 1")
    assert "OK" in cf.ok("unbind-service", "hello", "db")
    assert "did not exist" in cf.ok("unbind-service", "hello", "db")
    assert "OK" in cf.ok("delete-service", "db", "-f", "--wait")
    assert creds["name"] not in pg.databases()
    assert "No services found" in cf.ok("services")
