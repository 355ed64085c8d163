"""The Cloud Controller: Cloud Foundry's v2 REST API for apps, on the stdlib only.

It keeps the desired state of every app (SQLite on the persistent disk), the uploaded bits
and staged droplets (a directory blobstore beside the database), and turns changes of the
desired state into NATS messages to DEAs (`staging.<id>.start`, `dea.<id>.start`,
`dea.stop`). The health manager asks it to repair what it sees missing (`health.start`,
`health.stop`). Contracts: releases/cf/README.md.
"""
