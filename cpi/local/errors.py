"""CPI error types, named as BOSH's external CPI protocol names them: the shared ones of
``cpi/protocol.py``, imported from here by this CPI's modules."""

from cpi.protocol import (CloudError, CpiFailure, DiskNotAttached, DiskNotFound, InvalidCall,  # noqa: F401
                          NotImplementedFailure, VMCreationFailed, VMNotFound)
