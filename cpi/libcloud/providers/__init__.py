"""One module per IaaS, each exposing ``PROVIDER`` (see ``cpi.libcloud.provider``)."""
