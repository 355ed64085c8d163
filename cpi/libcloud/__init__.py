"""The libcloud CPI: BOSH's external CPI protocol driving an IaaS through Apache libcloud."""
