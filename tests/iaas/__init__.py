"""Test harnesses that stand in for public IaaS APIs (on 127.0.0.1 only), for the libcloud CPI's tests."""
