"""`regime-fleet run api`: build the api state, the ASGI app, and serve it with uvicorn.

Startup: the tails of regime.events and signals.enriched (tables + hub), the ingest lag gauge
and the admission producer start in the lifespan; the api is ready once the tables have caught
up with what their topics held at start. SIGTERM: SSE clients get `event: disconnect`
(shutdown), open requests finish within a grace period, the producer is flushed, and the
process exits 0.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import uvicorn
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from workers.config import ConfigError, FleetSettings
from workers.contracts import Serde
from workers.runtime.health import WorkerStatus
from workers.runtime.memory import freeze_start_up
from workers.runtime.observability import get_logger
from workers.topics import ENRICHED, EVENTS
from workers.topology import Topology

from . import errors, routes
from .admission import Admission
from .auth import TokenCheck, load_clients, load_tokens
from .capabilities import API_VERSION
from .edge import Edge
from .fairness import ANONYMOUS, DEFAULT, FairAdmission, Quota
from .history import VersionedTable, fold_regime_event, fold_signal
from .lag import IngestLag
from .metrics import ApiMetrics
from .settings import ApiSettings
from .streams import Hub, served
from .table import RegimeTable, SignalTable
from .tail import Batch, Tail, partitions_of

NAME = "api"


def _hand_over(loop: asyncio.AbstractEventLoop, apply: Callable[[Batch], None], batch: Batch) -> None:
    loop.call_soon_threadsafe(apply, batch)


@dataclass
class ApiState:
    """Everything a handler needs; built once per process, started in the lifespan."""

    settings: FleetSettings
    topology: Topology
    metrics: ApiMetrics
    tokens: TokenCheck
    log: Any
    serde: Serde
    status: WorkerStatus
    partitions: dict[str, list[int]]  # of each served topic
    hub: Hub
    table: RegimeTable = field(default_factory=RegimeTable)
    signals: SignalTable = field(default_factory=SignalTable)
    lag: IngestLag | Any = None
    admission: Admission | Any = None
    tails: dict[str, Tail] = field(default_factory=dict)
    lookups: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))
    fair: FairAdmission = field(default_factory=lambda: FairAdmission({}))
    lag_seen: float = 0.0  # the lag measurement fair admission last took in
    histories: dict[str, VersionedTable] = field(
        default_factory=lambda: {"regime": VersionedTable(), "signal": VersionedTable()}
    )

    def apply(self, batch: Batch) -> None:
        """On the event loop: fold a tail batch into its table and its versioned history,
        then fan it out."""
        for item, event in batch:
            tail = self.tails.get(item.topic)
            truncated = tail is not None and tail.low.get(item.partition, 0) > 0
            if item.topic == EVENTS:
                self.table.apply(event, item.partition, item.offset)
                fold = fold_regime_event
                history = self.histories["regime"]
            else:
                self.signals.apply(event, item.partition, item.offset)
                fold, history = fold_signal, self.histories["signal"]
            fold(history, event, item.partition, item.offset, item.timestamp_ms, truncated)
        self.hub.publish(item for item, _ in batch)

    def deadline(self, client: str, met: bool) -> None:
        """One request with a deadline header answered (the edge calls this)."""
        self.metrics.deadlines_met_ratio.labels(client).set(self.fair.deadline(client, met))

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.admission = Admission(self.settings, self.serde)
        self.lag = IngestLag(self.settings, self.log)
        self.lag.start()
        for topic, partitions in self.partitions.items():
            tail = Tail(
                self.settings, self.serde, topic, partitions, partial(_hand_over, loop, self.apply), self.log
            )
            self.tails[topic] = tail
            tail.start()

    def stop(self) -> None:
        self.hub.close()
        for part in (*self.tails.values(), self.lag):
            if part is not None:
                part.stop()
        if self.admission is not None:
            self.admission.close()

    def healthy(self) -> bool:
        return bool(self.tails) and all(tail.alive() for tail in self.tails.values())

    def caught_up(self, topic: str) -> bool:
        tail = self.tails.get(topic)
        return tail is not None and tail.ready.is_set()

    async def running_when_caught_up(self) -> None:
        while not all(self.caught_up(topic) for topic in self.partitions):
            await asyncio.sleep(0.05)
        if self.status.lifecycle == "init":
            self.status.set_lifecycle("running")
            self.log.info(
                "api_running", lifecycle="running", symbols=len(self.table), signal_symbols=len(self.signals)
            )

    def _table_status(self, topic: str, symbols: int) -> dict[str, Any]:
        if topic not in self.partitions:
            return {"served": False}
        return {
            "symbols": symbols,
            "caught_up": self.caught_up(topic),
            "head": {str(p): o for (t, p), o in self.hub.head.items() if t == topic},
            "undecodable": getattr(self.tails.get(topic), "undecodable", 0),
        }

    def ready(self) -> bool:
        return self.healthy() and self.status.lifecycle == "running"

    def as_status(self) -> dict[str, Any]:
        ready = self.ready()
        return {
            "worker": NAME,
            "lifecycle": self.status.lifecycle,
            "ready": ready,
            "regime_table": self._table_status(EVENTS, len(self.table)),
            "signal_table": self._table_status(ENRICHED, len(self.signals)),
            "history": {
                kind: {"symbols": len(table), "versions": table.versions, "retention_ms": table.retention_ms}
                for kind, table in self.histories.items()
            },
            "ingest_lag": self.lag.as_dict() if self.lag is not None else {},
            "sse": {
                "clients": len(self.hub.clients),
                "max_clients": ApiSettings.of(self.settings).max_sse_clients,
            },
            "admission": {
                "clients": {
                    name: {
                        "weight": c.quota.weight,
                        "admitted": c.admitted,
                        "throttled": c.throttled,
                        "streams": c.streams,
                    }
                    for name, c in self.fair.clients.items()
                },
                "drain_rate": round(self.fair.drain_rate, 1),
                "remembered": len(self.admission.accepted) if self.admission else 0,
                "in_flight": len(self.admission.inflight) if self.admission else 0,
                "auth": "bearer" if self.tokens else "none configured: writes refused",
            },
        }


def create_app(svc: ApiState | None = None) -> FastAPI:
    """The ASGI app; without a state it only describes itself (the OpenAPI document)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if svc is None:
            yield
            return
        svc.start(asyncio.get_running_loop())
        watcher = asyncio.create_task(svc.running_when_caught_up())
        try:
            yield
        finally:
            watcher.cancel()
            await asyncio.to_thread(svc.stop)

    app = FastAPI(
        title="regime-fleet api",
        version=API_VERSION,
        description="The fleet over HTTP: admission with backpressure, live SSE streams, lookups (docs/api.md).",
        lifespan=lifespan,
        exception_handlers=errors.HANDLERS,
        docs_url=None,
        redoc_url=None,
    )
    app.include_router(routes.router)
    from . import control_routes  # the operator endpoints (docs/api.md, "Control plane")

    app.include_router(control_routes.router)
    from . import console  # the web console at / and its endpoints (docs/console.md)

    app.include_router(console.router)
    if svc is not None:
        app.state.api = svc
        origins = ApiSettings.of(svc.settings).cors_origins
        if origins:
            app.add_middleware(
                CORSMiddleware,
                allow_origins=origins,
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "Last-Event-ID", "X-Correlation-Id"],
                expose_headers=["X-Correlation-Id", "Retry-After"],
            )
        app.add_middleware(
            Edge,
            metrics=svc.metrics,
            max_body_bytes=ApiSettings.of(svc.settings).max_body_bytes,
            log=svc.log,
            on_deadline=svc.deadline,
        )
    from .openapi import customise

    customise(app)
    return app


def api_state(settings: FleetSettings, topology: Topology) -> ApiState:
    log = get_logger(worker=NAME)
    api = ApiSettings.of(settings)
    tokens = TokenCheck(load_tokens(api), load_clients(api))
    quotas = {ANONYMOUS: Quota(), DEFAULT: Quota()} | {
        name: Quota(c.weight, c.events_per_s, c.max_streams) for name, c in api.clients.items()
    }
    if not tokens:
        log.warning("api_without_tokens", detail="no api.tokens: every write endpoint answers 401")
    metrics = ApiMetrics()
    partitions = {s.topic: partitions_of(settings, s.topic) for s in served(topology.topics)}
    status = WorkerStatus(worker=NAME, group="", metrics=metrics.worker)
    status.set_lifecycle("init")
    retention = ApiSettings.of(settings).asof_retention_ms
    return ApiState(
        fair=FairAdmission(quotas, window_s=api.admission_window_s, share_from=api.fair_share_from),
        histories={"regime": VersionedTable(retention), "signal": VersionedTable(retention)},
        settings=settings,
        topology=topology,
        metrics=metrics,
        tokens=tokens,
        log=log,
        serde=Serde.of(settings),
        status=status,
        partitions=partitions,
        hub=Hub(
            [(t, p) for t, ps in partitions.items() for p in ps],
            ApiSettings.of(settings).sse_history,
            ApiSettings.of(settings).sse_queue_size,
        ),
    )


class ApiWorker:
    """What `regime-fleet run api` runs: `run()` serves until SIGTERM and returns 0."""

    def __init__(self, settings: FleetSettings, topology: Topology) -> None:
        self.svc = api_state(settings, topology)
        self.app = create_app(self.svc)
        svc = self.svc

        class Server(uvicorn.Server):
            async def startup(self, sockets: Any = None) -> None:
                await super().startup(sockets)
                for server in self.servers:
                    for sock in server.sockets:
                        svc.log.info("api_listening", address=str(sock.getsockname()))

            def handle_exit(self, sig: int, frame: Any) -> None:
                svc.status.set_lifecycle("drained")
                svc.hub.close()  # SSE clients get `event: disconnect` before the sockets close
                super().handle_exit(sig, frame)
                # A drained worker exits 0 like every other (uvicorn would re-raise the signal).
                self._captured_signals.clear()

        api = ApiSettings.of(settings)
        config = uvicorn.Config(
            self.app,
            host=api.host,
            port=api.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=5,
            lifespan="on",
        )
        self.server = Server(config)

    def run(self) -> int:
        self.svc.log.info("api_starting", lifecycle="init", port=self.server.config.port)
        freeze_start_up()  # request latency: full collections cost 10+ ms pauses otherwise
        self.server.run()
        self.svc.status.set_lifecycle("stopped")
        self.svc.log.info("api_stopped", lifecycle="stopped")
        return 0

    def stop(self) -> None:
        self.server.should_exit = True


def build(settings: FleetSettings, topology: Topology) -> ApiWorker:
    tokens_file = ApiSettings.of(settings).tokens_file
    if tokens_file is not None and not tokens_file.exists():
        raise ConfigError(f"api.tokens_file {tokens_file} does not exist")
    return ApiWorker(settings, topology)
