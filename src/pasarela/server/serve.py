"""Run the HTTP server (uvicorn) for a loaded configuration."""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable

import anyio
import anyio.abc
import structlog
import uvicorn

from pasarela.assembly import build_runtime
from pasarela.config import LoadedConfig
from pasarela.errors import StartupError
from pasarela.server.app import create_app
from pasarela.server.live import LiveRuntime

log = structlog.get_logger("pasarela.serve")


def listen(host: str, port: int) -> socket.socket:
    """Bind before anything else starts, so a taken port is one clear error, not a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


async def serve_http(
    config: LoadedConfig,
    host: str | None = None,
    port: int | None = None,
    *,
    on_ready: Callable[[str], None] | None = None,
    reload: Callable[[], LoadedConfig] | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM; `on_ready(base_url)` runs once the socket accepts requests.

    With `reload`, SIGHUP builds a runtime from `reload()` and switches to it (server.host and
    server.port stay as they are: the socket is already bound)."""
    settings = config.settings.server
    bind_host = host or settings.host
    listener = listen(bind_host, settings.port if port is None else port)
    bind_port = int(listener.getsockname()[1])
    try:
        runtime = await build_runtime(config)
    except BaseException:
        listener.close()
        raise
    live = LiveRuntime(runtime)
    app = create_app(live)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=bind_host,
            port=bind_port,
            log_config=None,  # our structlog configuration stays in charge
            access_log=False,
            lifespan="on",
            server_header=False,
            timeout_graceful_shutdown=10,
        )
    )
    log.info(
        "listening",
        url=f"http://{bind_host}:{bind_port}",
        mcp=f"http://{bind_host}:{bind_port}/mcp",
        rest=f"http://{bind_host}:{bind_port}/v1",
        tools=len(runtime.gateway.catalog),
    )
    async with anyio.create_task_group() as group:

        async def run_server() -> None:
            await server.serve(sockets=[listener])
            group.cancel_scope.cancel()  # the server is done: so is the reload listener

        if reload is not None:
            # Listening for SIGHUP before the socket accepts anything: SIGHUP's default action
            # would otherwise end a gateway that was reloaded as soon as it looked ready.
            await group.start(_reload_on_sighup, live, reload, group)
        group.start_soon(run_server)
        # uvicorn exposes readiness only as a flag, not an event.
        while not server.started and not server.should_exit:  # noqa: ASYNC110
            await anyio.sleep(0.02)
        if server.started and on_ready is not None:
            on_ready(f"http://{bind_host}:{bind_port}")


async def _reload_on_sighup(
    live: LiveRuntime,
    reload: Callable[[], LoadedConfig],
    group: anyio.abc.TaskGroup,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    with anyio.open_signal_receiver(signal.SIGHUP) as signals:
        task_status.started()
        async for _ in signals:
            log.info("reload_requested", signal="SIGHUP")
            old = await live.reload(reload)
            if old is not None:
                group.start_soon(live.retire, old, live.drain_time(old))
