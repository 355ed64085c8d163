"""One error type for everything the user must read: ``str(e)`` is the whole message."""


class CfError(Exception):
    pass
