# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""Runs the app under uvicorn with a shutdown order that load balancers and the registry can follow.

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
import signal
import socket
import sys
from types import FrameType

import uvicorn
from fastapi import FastAPI

from .config import PlatformSettings
from .logs import get_logger
from .platform import get_platform

STARTUP_FAILURE = 3  # uvicorn's own exit code when it cannot start
_LIFESPAN_RESERVE_SECONDS = 1.0

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


def serve(app: FastAPI, settings: PlatformSettings) -> None:
    """Serve `app` on HOST:PORT until SIGTERM or SIGINT; exit 0 after a graceful stop."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=max(1, int(settings.shutdown_grace_seconds)),
    )
    server = GracefulServer(config, app=app, settings=settings)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
