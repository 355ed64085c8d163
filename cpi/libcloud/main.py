"""``bosh-py-cpi-libcloud [CONFIG.json]``: BOSH's external CPI protocol over stdin/stdout,
driving an IaaS through Apache libcloud.

One JSON request on stdin, one JSON response on stdout (API version 2). The config path may
also come from $BOSH_PY_CPI_CONFIG. A CPI call always exits 0: its failure is reported in
the response's ``error`` so the director can act on its type. No credential from the config
ever reaches the response or stderr: every text leaving the process is redacted.
"""

from __future__ import annotations

import inspect
import json
import sys
import traceback
from typing import Any

from cpi.libcloud.config import Config, load_config
from cpi.libcloud.context import CallLog, Context
from cpi.libcloud.errors import (
    CloudError,
    CpiFailure,
    InvalidCall,
    NotImplementedFailure,
)
from cpi.libcloud.methods import method_module

REDACTED = "<redacted>"


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def respond(result: Any = None, error: CpiFailure | None = None, log: str = "",
            secrets: list[str] | None = None) -> dict:
    secrets = secrets or []
    failure = None
    if error is not None:
        failure = {"type": error.error_type, "message": redact(str(error), secrets),
                   "ok_to_retry": error.ok_to_retry}
    return {"result": result, "error": failure, "log": redact(log, secrets)}


def handle(raw: str, config_path: str | None) -> dict:
    """Turn one request text into one response dict; never raises."""
    log = CallLog()
    config: Config | None = None
    try:
        try:
            request = json.loads(raw)
        except ValueError as error:
            raise InvalidCall(f"request is not valid JSON: {error}") from error
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            raise InvalidCall("request must be an object with a string 'method'")
        arguments = request.get("arguments") or []
        if not isinstance(arguments, list):
            raise InvalidCall("'arguments' must be a list")
        module = method_module(request["method"])
        if module is None:
            raise NotImplementedFailure(f"Must call implemented method: {request['method']}")
        config = load_config(config_path)
        ctx = Context(config, log, request.get("context") or {})
        try:
            inspect.signature(module.run).bind(ctx, *arguments)
        except TypeError as error:
            raise InvalidCall(f"{request['method']}: wrong arguments: {error}") from error
        result = module.run(ctx, *arguments)
        return respond(result, log=log.text(), secrets=config.secrets())
    except CpiFailure as failure:
        return respond(error=failure, log=log.text(), secrets=config.secrets() if config else [])
    except Exception as error:  # noqa: BLE001 - a bug or an unexpected failure: still a CPI answer
        log(traceback.format_exc())
        return respond(error=CloudError(f"{type(error).__name__}: {error}"), log=log.text(),
                       secrets=config.secrets() if config else [])


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    response = handle(sys.stdin.read(), args[0] if args else None)
    sys.stdout.write(json.dumps(response) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
