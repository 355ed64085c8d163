"""The Health Manager: desired state (the cloud controller) against actual state (DEA
heartbeats and exits); asks the CC to start what is missing and stop what is extra.

:mod:`decisions` holds all the judgement and no I/O; :mod:`runner` feeds it from NATS and
HTTP and publishes what it decides.
"""
