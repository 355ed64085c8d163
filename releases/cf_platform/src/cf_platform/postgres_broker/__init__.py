"""A service broker (Open Service Broker API v2) for PostgreSQL: each service instance is a
database, each binding a login role with its own password (docs/services.md).

Stdlib only, like every cf_platform component on a VM; it drives PostgreSQL with Debian's
``psql`` client (psql.py), so the broker VM needs ``postgresql-client`` and nothing else.
"""
