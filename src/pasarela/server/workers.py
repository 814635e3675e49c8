"""`pasarela serve --workers N`: N processes serving one port, one per core.

The parent binds the port first (a taken port is one clear error), then starts the workers one
after another, each once the previous is ready (so two never create the state store's tables at
once). Every worker loads the configuration file itself, binds the same port with SO_REUSEPORT
(the kernel spreads connections across them) and a Unix socket of its own in a private run
directory, for MCP sessions its peers pass on (server/peers.py). The parent then only
supervises: SIGHUP goes to every worker (each reloads, as one process does), SIGINT/SIGTERM
stop them all, and a worker that dies is started again.

What the workers share is what replicas share: `shared:` (redis://; memory:// is refused, see
config.model.workers_problem) and `state:` (SQLite under WAL, or PostgreSQL). Prometheus values
go to files in the run directory and /metrics sums them (telemetry/metrics.py).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Any

import structlog

from pasarela.config import LoadedConfig
from pasarela.errors import StartupError
from pasarela.server.peers import WorkerSlot
from pasarela.telemetry.metrics import MULTIPROC_ENV

log = structlog.get_logger("pasarela.workers")

READY_TIMEOUT = 120.0  # seconds a worker may take to build its runtime
RESTART_DELAY = 1.0  # seconds between a worker's death and its replacement
_spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no event loop or threads inherited


@dataclass(frozen=True)
class WorkerPlan:
    config: Path
    host: str
    port: int
    slot: WorkerSlot


def run_workers(
    config_path: Path, loaded: LoadedConfig, host: str | None, port: int | None, count: int
) -> None:
    """Serve with `count` workers until SIGINT/SIGTERM (blocking; no event loop in the parent)."""
    from pasarela.server.serve import listen

    settings = loaded.settings.server
    bind_host = host or settings.host
    # Held (bound, not listening) for the parent's life: the port stays ours while workers restart.
    anchor = listen(bind_host, settings.port if port is None else port, shared=True)
    rundir = Path(tempfile.mkdtemp(prefix="pasarela-workers-"))  # mode 0700: only we reach the sockets
    (rundir / "metrics").mkdir()
    os.environ[MULTIPROC_ENV] = str(rundir / "metrics")  # the workers inherit it
    plans = [
        WorkerPlan(config_path, bind_host, int(anchor.getsockname()[1]), WorkerSlot(i, count, rundir))
        for i in range(count)
    ]
    try:
        _Supervisor(plans).run()
    finally:
        anchor.close()
        shutil.rmtree(rundir, ignore_errors=True)


class _Supervisor:
    def __init__(self, plans: list[WorkerPlan]) -> None:
        self.plans = plans
        self.procs: dict[int, BaseProcess] = {}
        self.signals: list[int] = []
        self.stopping = False

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signals.append(signum)

    def run(self) -> None:
        for signum in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)
        try:
            for plan in self.plans:
                self._start(plan, wait=True)
            log.info("workers_ready", workers=len(self.plans), port=self.plans[0].port)
            self._supervise()
        finally:
            self._stop()

    def _start(self, plan: WorkerPlan, *, wait: bool) -> None:
        ready_recv, ready_send = _spawn.Pipe(duplex=False)
        proc = _spawn.Process(
            target=_worker_main, args=(plan, ready_send), name=f"pasarela-worker-{plan.slot.index}"
        )
        proc.start()
        ready_send.close()
        self.procs[plan.slot.index] = proc
        if not wait:
            return
        deadline = time.monotonic() + READY_TIMEOUT
        while not ready_recv.poll(0.2):
            if not proc.is_alive() or time.monotonic() > deadline or self._stop_requested():
                raise StartupError(
                    f"worker {plan.slot.index + 1} of {len(self.plans)} did not start"
                    + ("" if proc.is_alive() else f" (exit code {proc.exitcode}); its log says why")
                )
        ready_recv.close()

    def _stop_requested(self) -> bool:
        return any(s in (signal.SIGINT, signal.SIGTERM) for s in self.signals)

    def _supervise(self) -> None:
        while True:
            sentinels = [p.sentinel for p in self.procs.values()]
            multiprocessing.connection.wait(sentinels, timeout=0.5)
            pending, self.signals = self.signals, []
            for signum in pending:
                if signum == signal.SIGHUP:
                    log.info("reload_requested", signal="SIGHUP", workers=len(self.procs))
                    self._signal_all(signal.SIGHUP)
                else:
                    return
            for index, proc in list(self.procs.items()):
                if not proc.is_alive():
                    self._replace(index, proc)

    def _replace(self, index: int, proc: BaseProcess) -> None:
        from prometheus_client import multiprocess

        log.error("worker_died", worker=index + 1, exit_code=proc.exitcode, action="starting another")
        if proc.pid is not None:
            multiprocess.mark_process_dead(proc.pid)  # type: ignore[no-untyped-call]  # its live gauges go
        time.sleep(RESTART_DELAY)  # a worker that dies at once must not spin the CPU
        self._start(self.plans[index], wait=False)  # serving from the next loop: no waiting here

    def _signal_all(self, signum: int) -> None:
        for proc in self.procs.values():
            if proc.pid is not None and proc.is_alive():
                os.kill(proc.pid, signum)

    def _stop(self) -> None:
        """SIGTERM every worker (uvicorn drains), then wait; SIGKILL what outlives its grace."""
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs.values():
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join()


def _worker_main(plan: WorkerPlan, ready: Any) -> None:
    """A worker process: load the configuration, serve until told to stop."""
    import contextlib
    import functools

    import anyio

    from pasarela.config import load_config
    from pasarela.errors import ConfigError, PasarelaError
    from pasarela.server.serve import serve_http
    from pasarela.telemetry import configure_logging

    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until serve_http listens for it

    def on_ready(url: str) -> None:
        with contextlib.suppress(OSError):  # a replacement worker's parent is not listening
            ready.send(True)
        ready.close()

    try:
        loaded = load_config(plan.config)
        configure_logging(
            loaded.redactor, level=loaded.settings.logging.level, fmt=loaded.settings.logging.format
        )
        anyio.run(
            functools.partial(
                serve_http,
                loaded,
                plan.host,
                plan.port,
                on_ready=on_ready,
                reload=functools.partial(load_config, plan.config),
                slot=plan.slot,
            ),
            backend_options={"use_uvloop": True},
        )
    except (ConfigError, PasarelaError) as exc:
        log.error("worker_failed", worker=plan.slot.index + 1, error=str(exc))
        raise SystemExit(1) from None
