"""Organizations, spaces and roles: who may see and change which apps (docs/tenancy.md).

``store`` reads and writes the tables (db.py's schema), ``permissions`` decides from a plain
:class:`permissions.Roles` snapshot (pure, unit-tested), ``api`` serves ``/v2/organizations``,
``/v2/spaces`` and ``/v2/users`` on the CC's HTTP threads.
"""
