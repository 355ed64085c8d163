"""``bosh-py-cpi-dummy``: an in-memory-fast CPI whose "VMs" are plain agent processes.

Like BOSH's dummy CPI (and libcloud's ``drivers/dummy.py``): no namespaces, no root-only
kernel feature, instant. It lets director logic be tested with real agents over real NATS
while the local CPI stays the end-to-end truth. docs/cpi-dummy.md says how to use it.
"""
