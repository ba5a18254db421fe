"""The endpoint's optional security: ksqlDB-style server properties in, TLS settings and an
HTTP Basic authentication guard (ASGI middleware) out. Both are off unless configured.

Properties (README, "Securing the server"):
    authentication.method=BASIC                      NONE (default) or BASIC
    authentication.realm=KsqlServer-Props            named in the WWW-Authenticate challenge
    authentication.roles=admin,developer             roles allowed in; * (default): any user
    authentication.skip.paths=/healthcheck           paths served without credentials
    authentication.basic.credentials.file=PATH       `user: password[,role...]` lines
    ssl.certificate.location=cert.pem                PEM certificate chain; enables TLS
    ssl.key.location=key.pem                         PEM private key (default: in the cert file)
    ssl.key.password=...                             if the private key is encrypted
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streamsql.errors import ConfigError
from streamsql.server import wire

logger = logging.getLogger("streamsql.server")

# Property names that configure the server rather than the engine.
_SERVER_PREFIXES = ("authentication.", "ssl.")

UNAUTHORIZED = 40100
FORBIDDEN = 40300

# How much of a rejected request's body is read (and dropped) before the answer, and how
# long to wait for each piece of it; see _drain.
_DRAIN_BYTES = 1 << 20
_DRAIN_WAIT_SECONDS = 5.0


def read_properties_file(path: Path | str) -> dict[str, str]:
    """A Java-style properties file: `name=value` or `name: value` lines; `#`/`!` comments."""
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise ConfigError(f"Cannot read config file '{path}': {err.strerror}") from None
    properties = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        separators = [i for i in (line.find("="), line.find(":")) if i > 0]
        if not separators:
            raise ConfigError(f"{path}:{number}: expected NAME=VALUE, found '{line}'")
        cut = min(separators)
        properties[line[:cut].strip()] = line[cut + 1:].strip()
    return properties


def split_properties(properties: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(server properties, engine properties): one file configures both, as in ksqlDB."""
    server, engine = {}, {}
    for name, value in properties.items():
        (server if name.startswith(_SERVER_PREFIXES) else engine)[name] = value
    return server, engine


@dataclass(frozen=True)
class Credentials:
    """Users, their password (plain text or `MD5:<hex digest>`) and roles, read from a file
    in the format of Jetty's property-file login module, which ksqlDB servers use."""

    users: Mapping[str, tuple[str, frozenset[str]]]

    @classmethod
    def read(cls, path: Path | str) -> "Credentials":
        try:
            text = Path(path).read_text()
        except OSError as err:
            raise ConfigError(f"Cannot read credentials file '{path}': {err.strerror}") from None
        users = {}
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            user, colon, rest = line.partition(":")
            if not colon or not user.strip():
                raise ConfigError(f"{path}:{number}: expected 'user: password[,role...]'")
            password, *roles = [part.strip() for part in rest.split(",")]
            if password.startswith(("OBF:", "CRYPT:")):
                raise ConfigError(f"{path}:{number}: {password.split(':')[0]} passwords are not "
                                  "supported; use plain text or MD5:<hex digest>")
            users[user.strip()] = (password, frozenset(r for r in roles if r))
        return cls(users)

    def roles_of(self, user: str, password: str) -> frozenset[str] | None:
        """The user's roles if the password is right, else None."""
        known = self.users.get(user)
        if known is None:
            # compare anyway, so an unknown user takes as long as a wrong password
            hmac.compare_digest(password.encode(), b"\0" * len(password.encode()))
            return None
        stored, roles = known
        if stored.startswith("MD5:"):
            given = hashlib.md5(password.encode()).hexdigest().encode()
            matches = hmac.compare_digest(given, stored[4:].strip().lower().encode())
        else:
            matches = hmac.compare_digest(password.encode(), stored.encode())
        return roles if matches else None


@dataclass(frozen=True)
class BasicAuthentication:
    credentials: Credentials
    realm: str
    roles: frozenset[str]  # empty: any authenticated user
    skip_paths: frozenset[str]


@dataclass(frozen=True)
class SecuritySettings:
    authentication: BasicAuthentication | None = None
    certificate: Path | None = None
    key: Path | None = None
    key_password: str | None = None

    @property
    def tls(self) -> bool:
        return self.certificate is not None


def security_settings(properties: Mapping[str, str]) -> SecuritySettings:
    """Check the server properties and read the files they name; raise ConfigError early,
    so a misconfigured server never starts unprotected."""
    unknown = sorted(set(properties) - _KNOWN)
    if unknown:
        raise ConfigError(f"Unknown server property '{unknown[0]}'; known: "
                          f"{', '.join(sorted(_KNOWN))}")
    method = properties.get("authentication.method", "NONE").strip().upper()
    authentication = None
    if method == "BASIC":
        path = properties.get("authentication.basic.credentials.file")
        if not path:
            raise ConfigError("authentication.method=BASIC needs "
                              "authentication.basic.credentials.file")
        roles = {r.strip() for r in properties.get("authentication.roles", "*").split(",")}
        authentication = BasicAuthentication(
            Credentials.read(path), properties.get("authentication.realm", "KsqlServer-Props"),
            frozenset() if "*" in roles else frozenset(r for r in roles if r),
            frozenset(p.strip() for p in properties.get("authentication.skip.paths", "").split(",")
                      if p.strip()))
    elif method != "NONE":
        raise ConfigError(f"authentication.method must be NONE or BASIC, not '{method}'")
    certificate = properties.get("ssl.certificate.location")
    key = properties.get("ssl.key.location")
    if key and not certificate:
        raise ConfigError("ssl.key.location needs ssl.certificate.location")
    for name, location in (("ssl.certificate.location", certificate), ("ssl.key.location", key)):
        if location and not Path(location).is_file():
            raise ConfigError(f"{name}: no such file '{location}'")
    return SecuritySettings(authentication, Path(certificate) if certificate else None,
                            Path(key) if key else None, properties.get("ssl.key.password"))


_KNOWN = {"authentication.method", "authentication.realm", "authentication.roles",
          "authentication.skip.paths", "authentication.basic.credentials.file",
          "ssl.certificate.location", "ssl.key.location", "ssl.key.password"}


class BasicAuthGuard:
    """ASGI middleware: a request without valid credentials is answered 401 (403 without an
    allowed role) before any endpoint sees it, so it can change nothing."""

    def __init__(self, app: ASGIApp, authentication: BasicAuthentication):
        self.app = app
        self.authentication = authentication

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.authentication.skip_paths:
            await self.app(scope, receive, send)
            return
        user, roles = self._authenticate(scope)
        if roles is None:
            realm = self.authentication.realm.replace('"', "")
            logger.info("%s %s: rejected unauthenticated request", scope["method"],
                        scope["path"])
            await _drain(receive)
            await _reject(send, 401, UNAUTHORIZED, "Unauthorized",
                          [(b"www-authenticate", f'Basic realm="{realm}"'.encode())])
            return
        allowed = self.authentication.roles
        if allowed and not roles & allowed:
            logger.info("%s %s: user %r has no allowed role", scope["method"], scope["path"],
                        user)
            await _drain(receive)
            await _reject(send, 403, FORBIDDEN, "Forbidden", [])
            return
        await self.app(scope, receive, send)

    def _authenticate(self, scope: Scope) -> tuple[str | None, frozenset[str] | None]:
        header = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, token = header.decode("latin-1").partition(" ")
        if scheme.lower() != "basic":
            return None, None
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        user, colon, password = decoded.partition(":")
        if not colon:
            return None, None
        return user, self.authentication.credentials.roles_of(user, password)


async def _drain(receive: Receive) -> None:
    """Read and drop the request body the client is sending before answering it.

    Over HTTP/2, hypercorn (0.18) drops the whole connection when body data arrives for a
    stream that was already answered (hypercorn issue #329), which would fail the client's
    other requests on it too. The wait and the size are bounded, so a client that keeps
    its body open (e.g. /inserts-stream waiting for acks) still gets its answer.
    """
    drained = 0
    while drained < _DRAIN_BYTES:
        try:
            message: Message = await asyncio.wait_for(receive(), _DRAIN_WAIT_SECONDS)
        except asyncio.TimeoutError:
            return
        if message["type"] != "http.request":
            return
        drained += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _reject(send: Send, status: int, error_code: int, message: str,
                  headers: list[tuple[bytes, bytes]]) -> None:
    body = wire.dumps(wire.generic_error(error_code, message))
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", wire.JSON.encode()),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})
