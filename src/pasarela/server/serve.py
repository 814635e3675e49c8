"""Run the HTTP server (uvicorn) for a loaded configuration."""

from __future__ import annotations

import gc
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
from pasarela.server.peers import WorkerSlot

log = structlog.get_logger("pasarela.serve")


def listen(host: str, port: int, *, shared: bool = False) -> socket.socket:
    """Bind before anything else starts, so a taken port is one clear error, not a traceback.

    `shared`: SO_REUSEPORT, so each worker of `serve --workers N` binds the port too and the
    kernel spreads new connections across them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
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
    slot: WorkerSlot | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM; `on_ready(base_url)` runs once the socket accepts requests.

    With `reload`, SIGHUP builds a runtime from `reload()` and switches to it (server.host and
    server.port stay as they are: the socket is already bound). With `slot`, this is one worker
    of `serve --workers N` (server/workers.py): it shares the port and listens on its own Unix
    socket for the requests its peers pass on."""
    settings = config.settings.server
    bind_host = host or settings.host
    listener = listen(bind_host, settings.port if port is None else port, shared=slot is not None)
    bind_port = int(listener.getsockname()[1])
    sockets = [listener]
    try:
        if slot is not None:
            sockets.append(_peer_socket(slot))
        runtime = await build_runtime(config)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    live = LiveRuntime(runtime)
    app = create_app(live, slot, reload)
    # Everything built so far lives as long as the process: out of the collector's sight, a
    # full collection no longer walks it (they took up to 280 ms under load: the MCP tail).
    gc.collect()
    gc.freeze()
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
        worker=None if slot is None else f"{slot.index + 1} of {slot.count}",
    )
    async with anyio.create_task_group() as group:

        async def run_server() -> None:
            await server.serve(sockets=sockets)
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


def _peer_socket(slot: WorkerSlot) -> socket.socket:
    path = slot.socket_path(slot.index)
    path.unlink(missing_ok=True)  # left by this worker's predecessor, if it crashed
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    return sock


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
