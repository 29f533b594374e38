"""The ingest group's lag on market.raw, measured in a thread and cached: admission reads the
last measurement and never waits for the broker. Above `api.ingest_lag_limit` admissions
answer 429 until the lag is back at half the limit (the same hysteresis as the workers'
backpressure, through the same gauge)."""

from __future__ import annotations

import threading
import time
from typing import Any

from workers.config import FleetSettings
from workers.runtime.backpressure import BackpressureGauge, Downstream
from workers.topics import RAW

from .settings import ApiSettings


class IngestLag:
    def __init__(self, settings: FleetSettings, log: Any) -> None:
        limit = ApiSettings.of(settings).ingest_lag_limit
        self.enabled = limit > 0
        self.limit = limit
        self.interval_s = ApiSettings.of(settings).lag_interval_s
        self.downstream = Downstream(
            settings.group("ingest"), settings.topic(RAW), limit, limit // 2, f"ingest lags on {RAW}"
        )
        self.settings = settings
        self.log = log
        self.lag = 0
        self.rejecting = False
        self.measured_at = 0.0  # monotonic; 0: never
        self.error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ingest-lag", daemon=True)

    def start(self) -> None:
        if self.enabled:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def as_dict(self) -> dict[str, Any]:
        age = round(time.monotonic() - self.measured_at, 3) if self.measured_at else None
        return {
            "enabled": self.enabled,
            "group": self.downstream.group,
            "topic": RAW,
            "lag": self.lag,
            "limit": self.limit,
            "rejecting": self.rejecting,
            "age_s": age,
            "error": self.error,
        }

    def _loop(self) -> None:
        gauge = BackpressureGauge(self.settings, self.downstream, interval_s=0)
        try:
            while not self._stop.is_set():
                change = gauge.check()
                self.lag, self.error = gauge.lag, gauge.error
                if not gauge.error:
                    self.measured_at = time.monotonic()
                if change is not None:
                    self.rejecting = change
                    self.log.info("admission_backpressure", rejecting=change, lag=gauge.lag, limit=self.limit)
                self._stop.wait(self.interval_s)
        finally:
            gauge.close()
