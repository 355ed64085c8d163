#!/bin/sh
# The errand: python3 from the stemcell, cf-platform and smoke-tests from their packages.
export PYTHONPATH=/var/vcap/packages/smoke-tests/lib:/var/vcap/packages/cf-platform/lib
export PYTHONUNBUFFERED=1
exec /usr/bin/python3 -m smoke_tests --config /var/vcap/jobs/smoke_tests/config/smoke_tests.json
