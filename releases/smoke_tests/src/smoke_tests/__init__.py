"""Cloud Foundry smoke tests, run as the ``smoke_tests`` errand on a VM whose python3 has
only the standard library: a v2 API client on urllib (``cc_api``), the steps
(``steps``), and ``python3 -m smoke_tests --config FILE``. App zips are made by
cf_platform's own client code (``cf_platform.client.zipper``), vendored as cf-platform."""
