# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""Runs the app under uvicorn, registering it only once it serves, and stopping in an order callers follow.

The port is bound (and listens) before anything else: an explicit PORT that is taken stops
the start (exit 2) before the app starts or registers; an unset PORT takes the service's
default port when free and any free port otherwise. The instance registers, at the port it
got, at the end of the app's startup (the platform's lifespan, around the team's): the socket
listens already, and connections made meanwhile wait in its backlog until uvicorn serves it.

uvicorn closes its listening socket as soon as SIGTERM arrives and runs the lifespan shutdown
last, so failing readiness and deregistering must happen before uvicorn starts to stop:

1. SIGTERM: readiness fails, heartbeats stop, the instance deregisters;
2. for `drain_seconds` the service keeps answering while callers notice (SIGINT skips this);
3. uvicorn closes the socket and waits for requests in flight, up to the rest of the grace period;
4. the lifespan shutdown closes the platform; the process exits 0.

A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import errno
import signal
import socket
import sys
from dataclasses import dataclass
from types import FrameType
from typing import NoReturn

import uvicorn
from fastapi import FastAPI

from .config import CONFIG_ERROR, PlatformSettings
from .logs import get_logger
from .platform import get_platform

STARTUP_FAILURE = 3  # uvicorn's own exit code when it cannot start
_LIFESPAN_RESERVE_SECONDS = 1.0
_BACKLOG = 2048  # uvicorn's default

log = get_logger(__name__)


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, *, app: FastAPI, settings: PlatformSettings) -> None:
        super().__init__(config)
        self._platform = get_platform(app)
        self._grace = settings.shutdown_grace_seconds
        self._drain = min(settings.drain_seconds, settings.shutdown_grace_seconds / 2)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shutdown_task: asyncio.Task[None] | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not uvicorn's handler: it would stop at once, and re-raise the signal after a clean exit.
        if self._loop is None or self._shutdown_task is not None:
            self.should_exit = True
            self.force_exit = self._shutdown_task is not None
            return
        drain = self._drain if sig == signal.SIGTERM else 0.0
        self._loop.call_soon_threadsafe(self._begin_shutdown, sig, drain)

    def _begin_shutdown(self, sig: int, drain: float) -> None:
        if self._shutdown_task is None:
            self._shutdown_task = asyncio.create_task(self._shut_down(sig, drain))

    async def _shut_down(self, sig: int, drain: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._grace
        log.info("signal_received", signal=signal.Signals(sig).name, drain_s=drain, grace_s=self._grace)
        try:
            await self._platform.begin_shutdown()
            await asyncio.sleep(drain)
        finally:
            remaining = deadline - loop.time() - _LIFESPAN_RESERVE_SECONDS
            self.config.timeout_graceful_shutdown = max(0, int(remaining))
            self.should_exit = True


@dataclass(frozen=True)
class Listener:
    sock: socket.socket
    port: int
    fallback: bool  # the default port was taken, so another was chosen


class PortTaken(OSError):
    """The explicitly configured PORT is in use."""


def listen(host: str, port: int | None, default_port: int) -> Listener:
    """A listening socket on `host`: at `port`, else at `default_port` if free, else at a free port."""
    if port is not None:
        try:
            return _listener(_listen(host, port), fallback=False)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortTaken(f"PORT={port} is taken on {host}") from error
            raise
    try:
        return _listener(_listen(host, default_port), fallback=False)
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
    return _listener(_listen(host, 0), fallback=True)


def _listener(sock: socket.socket, *, fallback: bool) -> Listener:
    return Listener(sock, sock.getsockname()[1], fallback)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # A restart must not wait for the last run's connections in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        # Listening at once holds the port: with SO_REUSEADDR, a socket that is only bound
        # lets another process bind the same port meanwhile.
        sock.listen(_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def serve(app: FastAPI, settings: PlatformSettings) -> None:
    """Serve `app` on HOST:PORT until SIGTERM or SIGINT; exit 0 after a graceful stop."""
    try:
        listener = listen(settings.host, settings.port, settings.default_port)
    except PortTaken as error:
        _refuse(settings, f"{error}; unset PORT to take a free port")
    except OSError as error:
        _refuse(settings, f"cannot listen on {settings.host}: {error}")
    why = {"reason": f"port {settings.default_port} is taken"} if listener.fallback else {}
    log.info("listening", host=settings.host, port=listener.port, **why)
    get_platform(app).listening_on(listener.port)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=listener.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=max(1, int(settings.shutdown_grace_seconds)),
        backlog=_BACKLOG,
    )
    server = GracefulServer(config, app=app, settings=settings)
    try:
        server.run(sockets=[listener.sock])
    finally:
        listener.sock.close()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def _refuse(settings: PlatformSettings, reason: str) -> NoReturn:
    print(f"{settings.service_name}: {reason}", file=sys.stderr)
    sys.exit(CONFIG_ERROR)
