"""The HTTP server: the ASGI app over one engine, served by hypercorn, with errors as ksqlDB's JSON.

Why starlette + hypercorn rather than aiohttp: hypercorn serves HTTP/2 cleartext (prior
knowledge and upgrade) on the same port as HTTP/1.1, which ksqlDB clients use, and TLS;
the app is plain ASGI, so authentication is middleware added here, not endpoint changes.
"""
from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config as ServerConfig
from hypercorn.utils import wrap_app
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from streamsql.engine import Engine
from streamsql.errors import StreamSQLError
from streamsql.server import wire
from streamsql.server.routes import Endpoints
from streamsql.server.security import BasicAuthGuard, SecuritySettings, security_settings, \
    split_properties

if TYPE_CHECKING:
    from streamsql.log.backend import LogBackend

logger = logging.getLogger("streamsql.server")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8088


def build_app(engine: Engine) -> tuple[Starlette, Endpoints]:
    """The ASGI app serving `engine`, and its endpoints (which own the streaming queries)."""
    endpoints = Endpoints(engine)
    app = Starlette(routes=endpoints.routes(), exception_handlers={
        wire.RequestError: _request_error,
        StreamSQLError: _statement_error,
        HTTPException: _http_error,
        Exception: _internal_error,
    })
    return app, endpoints


async def _request_error(request: Request, err: wire.RequestError) -> Response:
    return _json(400, wire.request_error(err))


async def _statement_error(request: Request, err: StreamSQLError) -> Response:
    # The log records the kind of failure, not the user's statement.
    logger.info("%s %s failed: %s", request.method, request.url.path, type(err).__name__)
    status, body = wire.statement_error(err, err.text or "")
    return _json(status, body)


async def _http_error(request: Request, err: HTTPException) -> Response:
    return _json(err.status_code, wire.generic_error(err.status_code * 100, err.detail))


async def _internal_error(request: Request, err: Exception) -> Response:
    logger.error("%s %s: internal error", request.method, request.url.path, exc_info=err)
    return _json(500, wire.generic_error(wire.SERVER_ERROR, f"{type(err).__name__}: {err}"))


def _json(status: int, document: dict) -> Response:
    return Response(wire.dumps(document), status_code=status, media_type=wire.JSON)


async def serve(engine: Engine, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *,
                security: SecuritySettings = SecuritySettings(),
                shutdown: asyncio.Event | None = None,
                on_ready: Callable[[int], None] | None = None) -> None:
    """Serve the endpoint for a started engine until `shutdown` is set (default: SIGINT or
    SIGTERM). `on_ready` gets the bound port (useful with port 0) once it accepts connections.
    Streaming queries are ended before the server stops.

    Without TLS, HTTP/1.1 and HTTP/2 cleartext share the port: prior knowledge (the HTTP/2
    preface) and `Upgrade: h2c` on a request without a body (hypercorn answers an upgrade
    that carries a body over HTTP/1.1). With TLS, ALPN offers h2 and http/1.1.
    """
    app, endpoints = build_app(engine)
    asgi = app if security.authentication is None else \
        BasicAuthGuard(app, security.authentication)
    config = ServerConfig()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logger
    if security.tls:
        config.certfile = str(security.certificate)
        config.keyfile = str(security.key or security.certificate)
        config.keyfile_password = security.key_password
    sockets = config.create_sockets()
    listening = (sockets.secure_sockets if security.tls else sockets.insecure_sockets)[0]
    # listen now, so connections made as soon as on_ready fires wait in the backlog
    listening.listen(config.backlog)
    bound_port = listening.getsockname()[1]
    endpoints.host = {"host": host, "port": bound_port}
    stop = shutdown if shutdown is not None else _signalled()

    async def stopping() -> None:
        await stop.wait()
        endpoints.active.close_all()

    if on_ready is not None:
        on_ready(bound_port)
    logger.info("serving ksqlDB's REST API on %s://%s:%d%s", "https" if security.tls else "http",
                host, bound_port, " (BASIC authentication)" if security.authentication else "")
    await worker_serve(wrap_app(asgi, config.wsgi_max_body_size, "asgi"), config,
                       sockets=sockets, shutdown_trigger=stopping)


def _signalled() -> asyncio.Event:
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, event.set)
    return event


async def run_server(data_dir: Path | str | None, host: str = DEFAULT_HOST,
                     port: int = DEFAULT_PORT, properties: Mapping[str, str] | None = None, *,
                     backend: LogBackend | None = None) -> int:
    """`streamsql server`: start an engine on `data_dir` (or `backend`), serve it until
    SIGINT/SIGTERM. `properties` mixes server settings (authentication.*, ssl.*; see
    security.py) and engine properties, as a ksqlDB server's config file does."""
    server_properties, engine_properties = split_properties(properties or {})
    security = security_settings(server_properties)  # before anything starts
    engine = Engine(data_dir, engine_properties, backend=backend)
    await engine.start()
    try:
        await serve(engine, host, port, security=security)
    finally:
        await engine.close()
    return 0


class Server:
    """A running endpoint over a started engine, as an async context manager:
    `async with Server(engine, port=0) as server: ... server.url ...`."""

    def __init__(self, engine: Engine, host: str = DEFAULT_HOST, port: int = 0, *,
                 security: SecuritySettings = SecuritySettings()):
        self.engine = engine
        self.host = host
        self.port = port
        self.security = security
        self._shutdown = asyncio.Event()
        self._task: asyncio.Task | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.security.tls else 'http'}://{self.host}:{self.port}"

    async def __aenter__(self) -> "Server":
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(serve(self.engine, self.host, self.port,
                                               security=self.security,
                                               shutdown=self._shutdown,
                                               on_ready=ready.set_result))
        # serve() may fail before it is ready (e.g. the port is taken): surface that error
        await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            self._task.result()
        self.port = ready.result()
        return self

    async def __aexit__(self, *exc) -> None:
        self._shutdown.set()
        await self._task
