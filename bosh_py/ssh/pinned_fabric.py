"""A fabric ``Connection`` whose host key is pinned: an unknown or different key is refused.

fabric's own default accepts any host key it has not seen (paramiko's AutoAddPolicy) and
reads ~/.ssh/config; both are turned off here, so the only host key trusted is the one given
(from the director's records or an operator's config), never one learnt on first use.
"""

from __future__ import annotations

import base64
import io

import fabric
import paramiko

from bosh_py.ssh.client import SshError

_KEY_CLASSES: tuple[type[paramiko.PKey], ...] = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)


def private_key(pem: str, what: str = "private key") -> paramiko.PKey:
    """An unencrypted OpenSSH/PEM private key of any type paramiko reads; ``what`` names it in
    the error (never its content)."""
    for key_class in _KEY_CLASSES:
        try:
            return key_class.from_private_key(io.StringIO(pem))
        except (paramiko.SSHException, ValueError, IndexError):
            continue
    raise SshError(f"{what}: not an unencrypted ed25519, ECDSA or RSA private key")


def public_key(line: str, what: str = "host key") -> paramiko.PKey:
    """A public key from an OpenSSH line ``type base64 [comment]``."""
    parts = line.split()
    if len(parts) < 2:
        raise SshError(f"{what}: expected 'ssh-ed25519 AAAA...', got {line[:40]!r}")
    try:
        return paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1], validate=True))
    except (ValueError, paramiko.SSHException, TypeError) as error:
        raise SshError(f"{what}: not a valid {parts[0]} public key: {error}") from error


def known_hosts_name(host: str, port: int) -> str:
    """How paramiko looks a host up in its host keys (``[host]:port`` off port 22)."""
    return host if port == 22 else f"[{host}]:{port}"


def pinned_connection(host: str, pkey: paramiko.PKey, host_key: paramiko.PKey, user: str = "root",
                      port: int = 22, connect_timeout: int = 10) -> fabric.Connection:
    """An unopened fabric Connection that trusts exactly ``host_key`` and logs in with ``pkey``
    only (no agent, no keys from ~/.ssh)."""
    config = fabric.Config(ssh_config=paramiko.SSHConfig())  # no ~/.ssh/config rewriting host or user
    connection = fabric.Connection(
        host, user=user, port=port, config=config, connect_timeout=connect_timeout,
        connect_kwargs={"pkey": pkey, "allow_agent": False, "look_for_keys": False,
                        "banner_timeout": connect_timeout, "auth_timeout": connect_timeout})
    connection.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    connection.client.get_host_keys().add(known_hosts_name(host, port), host_key.get_name(), host_key)
    return connection


def open_pinned(connection: fabric.Connection, what: str) -> fabric.Connection:
    """Open ``connection``; a host key mismatch and an unreachable host become SshError naming
    ``what`` (a machine or instance name), so the operator knows which one."""
    try:
        connection.open()
    except paramiko.BadHostKeyException as error:
        raise SshError(f"{what} ({connection.host}:{connection.port}): host key does not match the "
                       f"pinned key ({error.key.get_name()} {error.key.fingerprint}): refusing") from error
    except paramiko.SSHException as error:
        if "not found in known_hosts" in str(error):
            raise SshError(f"{what} ({connection.host}:{connection.port}): host key of another type than the "
                           f"pinned one: refusing") from error
        raise SshError(f"{what} ({connection.host}:{connection.port}): SSH failed: {error}") from error
    except OSError as error:
        raise SshError(f"{what} ({connection.host}:{connection.port}): cannot connect: {error}") from error
    return connection
