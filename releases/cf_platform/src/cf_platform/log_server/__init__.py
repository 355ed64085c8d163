"""The log server: loggregator's job for classic Cloud Foundry on bosh-py (docs/logs.md).

Platform components (DEAs, routers, the cloud controller, the health manager) send an app's
log lines here over authenticated HTTP (:mod:`.emitter`); the server keeps a bounded recent
buffer per app (:mod:`.recent`), streams live lines to ``cf-py logs`` followers whose token
the cloud controller accepts for the app (:mod:`.follower_auth`), and forwards them to the
app's syslog drains (:mod:`.syslog_drain`). Standard library only: it runs on the stemcell's
python3.
"""
