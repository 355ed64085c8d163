"""A WSGI adapter in front of moto's server so libcloud's EC2 driver can talk to it.

Test harness only. moto 5.2 and libcloud 3.9's EC2 driver disagree on the wire (see
/work/shared/ENVIRONMENT.md, "IaaS API emulators"); this middleware fixes each
disagreement at the HTTP boundary so the CPI code stays exactly what real EC2 needs:

- moto's XML namespace lacks the trailing slash libcloud's xpath uses (lists come back
  empty, errors lose their text): the slash is added to every EC2 response.
- moto's error documents carry that namespace too, EC2's carry none (libcloud reads
  ``Errors/Error`` unqualified, so the code and message would be lost): removed.
- libcloud numbers CreateTags/DeleteTags parameters from 0, moto reads from 1: renumbered.
- moto omits ``<return>true</return>`` where libcloud reads it: added on success.
- DetachVolume without InstanceId crashes moto: the volume's attachment fills it in, or the
  answer is EC2's own ``IncorrectState`` when the volume is not attached.
- moto keeps a terminated instance's private IP taken until the object is garbage
  collected (a later RunInstances with that PrivateIpAddress is a 500); EC2 releases it
  with the instance, and BOSH re-creates a VM on the same static IP: released on success.
- moto accepts any credentials: the adapter checks the SigV4 signature against the one
  key pair it was started with and answers ``AuthFailure`` as EC2 does, so "bad
  credentials" is tested over the wire.

The adapter also injects faults the emulator cannot produce (throttling, no capacity, an
error half-way through create_vm): ``POST /adapter/faults`` with form fields ``action``,
``code`` and ``times`` makes the next ``times`` calls of that EC2 action answer that error
code, as EC2 would. Its state is reset with moto's (``POST /moto-api/reset``).

Run as ``python -m tests.cpi_libcloud.moto_adapter``: it binds 127.0.0.1 on a free port,
prints the port on stdout and serves until killed. The key pair comes from
$MOTO_ADAPTER_ACCESS_KEY / $MOTO_ADAPTER_SECRET_KEY.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

MOTO_NAMESPACE = re.compile(rb'xmlns="(http://ec2\.amazonaws\.com/doc/[0-9-]+)"')
ERROR_ROOT = re.compile(rb'<Response xmlns="[^"]*">')  # EC2's errors carry no namespace
BOOLEAN_ACTIONS = frozenset({
    "CreateTags", "DeleteTags", "DeleteVolume", "DeleteSnapshot", "RebootInstances",
    "DeleteKeyPair", "DeleteSecurityGroup",
})
TAG_PARAM = re.compile(r"^(Tag|ResourceId)\.(\d+)(\..*)?$")
AUTH_HEADER = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
    r"SignedHeaders=([^,]+), Signature=([0-9a-f]+)")
ACCOUNT_ID = "123456789012"  # moto's default account

StartResponse = Callable[..., Any]


def ec2_error(code: str, message: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>moto-adapter</RequestID></Response>").encode()


def renumber_from_one(params: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``Tag.0.Key`` → ``Tag.1.Key`` when the list starts at 0 (libcloud's CreateTags)."""
    starts_at_zero = {m.group(1) for k, _ in params if (m := TAG_PARAM.match(k)) and m.group(2) == "0"}
    out = []
    for key, value in params:
        m = TAG_PARAM.match(key)
        if m and m.group(1) in starts_at_zero:
            key = f"{m.group(1)}.{int(m.group(2)) + 1}{m.group(3) or ''}"
        out.append((key, value))
    return out


def _sign(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signature_ok(environ: dict, params: list[tuple[str, str]], body: bytes,
                 access_key: str, secret_key: str) -> str | None:
    """None when the request is signed with the adapter's key pair, else why not."""
    match = AUTH_HEADER.fullmatch(environ.get("HTTP_AUTHORIZATION", ""))
    if not match:
        return "request is not signed with AWS Signature Version 4"
    key_id, day, region, service, signed, signature = match.groups()
    if key_id != access_key:
        return f"AWS was not able to validate the provided access credentials ({key_id})"
    headers = []
    for name in signed.split(";"):
        if name == "host":
            value = environ.get("HTTP_HOST", "")
        elif name in ("content-type", "content-length"):
            value = environ.get(name.upper().replace("-", "_"), "")
        else:
            value = environ.get("HTTP_" + name.upper().replace("-", "_"), "")
        headers.append(f"{name}:{value.strip()}\n")
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='~')}" for k, v in sorted(params))
    if environ["REQUEST_METHOD"] != "GET":
        query = ""
    payload = environ.get("HTTP_X_AMZ_CONTENT_SHA256") or hashlib.sha256(body).hexdigest()
    canonical = "\n".join([environ["REQUEST_METHOD"], environ.get("PATH_INFO") or "/", query,
                           "".join(headers), signed, payload])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", environ.get("HTTP_X_AMZ_DATE", ""), scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = _sign(_sign(_sign(_sign(f"AWS4{secret_key}".encode(), day), region), service),
                "aws4_request")
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return "The request signature we calculated does not match the signature you provided"
    return None


def release_private_ips(region: str, instance_ids: list[str]) -> None:
    """What EC2 does when an instance is terminated: its private IPs are free again."""
    from moto.ec2.exceptions import InvalidInstanceIdError
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[ACCOUNT_ID][region]
    for instance_id in instance_ids:
        try:
            instance = backend.get_instance(instance_id)
        except InvalidInstanceIdError:  # nothing to release
            continue
        if instance.state != "terminated" or not instance.subnet_id:
            continue
        subnet = backend.get_subnet(instance.subnet_id)
        for ip in list(getattr(instance, "_private_ips", ())):
            subnet.del_subnet_ip(ip)


def attached_instance(region: str, volume_id: str) -> str | None:
    """The instance a volume is attached to, read from moto's own backend."""
    from moto.ec2.models import ec2_backends

    volume = ec2_backends[ACCOUNT_ID][region].volumes.get(volume_id)
    attachment = getattr(volume, "attachment", None)
    return attachment.instance.id if attachment else None


class MotoEc2Adapter:
    """WSGI middleware: fixes the request on the way in and the XML on the way out."""

    def __init__(self, app: Callable, access_key: str, secret_key: str) -> None:
        self.app = app
        self.access_key = access_key
        self.secret_key = secret_key
        self.faults: dict[str, list[str]] = {}  # EC2 action -> error codes to answer next

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or ""
        if path == "/adapter/faults":
            return self._add_fault(environ, start_response)
        if path.startswith("/moto-api"):
            if path == "/moto-api/reset":
                self.faults.clear()
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        params = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        form = parse_qsl(body.decode(), keep_blank_values=True) if body else []
        problem = signature_ok(environ, params, body, self.access_key, self.secret_key)
        if problem:
            return self._reply(start_response, "401 Unauthorized", ec2_error("AuthFailure", problem))
        everything = dict(params + form)
        action = everything.get("Action", "")
        region = AUTH_HEADER.fullmatch(environ["HTTP_AUTHORIZATION"]).group(3)  # type: ignore[union-attr]
        if self.faults.get(action):
            code = self.faults[action].pop(0)
            return self._reply(start_response, "503 Service Unavailable",
                               ec2_error(code, f"injected by the test adapter for {action}"))
        if action in ("CreateTags", "DeleteTags"):
            params, form = renumber_from_one(params), renumber_from_one(form)
        if action == "DetachVolume" and not everything.get("InstanceId"):
            volume_id = everything.get("VolumeId", "")
            instance = attached_instance(region, volume_id)
            if instance is None:
                return self._reply(start_response, "400 Bad Request", ec2_error(
                    "IncorrectState", f"Volume '{volume_id}' is in the 'available' state."))
            params.append(("InstanceId", instance))
        environ["QUERY_STRING"] = urlencode(params)
        new_body = urlencode(form).encode() if form else body
        environ["CONTENT_LENGTH"] = str(len(new_body))
        environ["wsgi.input"] = _Body(new_body)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list, exc_info: Any = None) -> Callable:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        out = b"".join(self.app(environ, capture))
        out = MOTO_NAMESPACE.sub(rb'xmlns="\1/"', out)
        out = ERROR_ROOT.sub(b"<Response>", out)
        if action in BOOLEAN_ACTIONS and captured["status"].startswith("200") \
                and b"<return>" not in out:
            out = re.sub(rb"(</[A-Za-z]+Response>\s*)$", rb"<return>true</return>\1", out)
        if action == "TerminateInstances" and captured["status"].startswith("200"):
            release_private_ips(region, [v for k, v in params + form if k.startswith("InstanceId.")])
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], headers + [("Content-Length", str(len(out)))])
        return [out]

    def _add_fault(self, environ: dict, start_response: StartResponse) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        form = dict(parse_qsl(environ["wsgi.input"].read(length).decode()))
        self.faults.setdefault(form["action"], []).extend([form["code"]] * int(form["times"]))
        return self._reply(start_response, "200 OK", b"ok")

    @staticmethod
    def _reply(start_response: StartResponse, status: str, body: bytes) -> list[bytes]:
        start_response(status, [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
        return [body]


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, size: int = -1) -> bytes:
        chunk, self.data = (self.data, b"") if size < 0 else (self.data[:size], self.data[size:])
        return chunk

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)


def quiet_request_handler() -> type:
    """moto's request handler, logging each request's path and EC2 action only: libcloud
    sends EC2 calls as GET query strings, and RunInstances' UserData holds the VM's SSH host
    private key, which must not reach the server's log."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class QuietRequestHandler(MotoRequestHandler):
        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            path, _, query = self.path.partition("?")
            action = dict(parse_qsl(query)).get("Action", "")
            self.log("info", '"%s %s%s" %s', self.command, path, f" {action}" if action else "", code)

    return QuietRequestHandler


def serve() -> None:
    """Serve moto behind the adapter on 127.0.0.1; print the port, then block."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    app = MotoEc2Adapter(DomainDispatcherApplication(create_backend_app),
                         os.environ["MOTO_ADAPTER_ACCESS_KEY"], os.environ["MOTO_ADAPTER_SECRET_KEY"])
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=quiet_request_handler())
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(serve())
