"""The operator endpoints (docs/api.md, "Control plane"): the fleet's instances, pause / resume /
halt, replays as jobs, models, consumer groups and the topology as YAML. Writes need the bearer
token and are audit-logged with the correlation id; the blocking reads run in a thread."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from sse_starlette import EventSourceResponse

from workers.runtime.commands import ControlError
from workers.runtime.control import Recorder
from workers.trainer.promote import PromotionRefused, promote
from workers.trainer.publish import NoBooster

from . import bodies, control, dag
from .control_replays import REPLAYABLE, BadReplay, ReplayJobs
from .errors import ApiError, correlation
from .routes import BEARER, ERRORS, OPEN_OR_BEARER, _allow, api_state

router = APIRouter(tags=["control"])
TARGET_BODY = {
    "description": "The target: `worker` (a worker of fleet.yaml; default every worker), and "
    "`partition` or `symbol`; `reason` (free text, audit-logged); for resume, `mode` (pause or "
    "halt; default both).",
    "required": False,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "worker": {"type": "string"},
                    "partition": {"type": "integer", "minimum": 0},
                    "symbol": {"type": "string", "minLength": 1},
                    "reason": {"type": "string"},
                    "mode": {"type": "string", "enum": ["pause", "halt"]},
                },
            }
        }
    },
}


async def _blocking(call: Callable[..., Any], *args: Any) -> Any:
    """A bounded Kafka read or write off the event loop; 503 when the broker does not answer."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(call, *args), control.TIMEOUT_S * 3)
    except TimeoutError:
        raise ApiError(
            503, "UNAVAILABLE", "Kafka did not answer in time", headers={"Retry-After": "5"}
        ) from None
    except ApiError:
        raise
    except (ControlError, BadReplay, NoBooster, PromotionRefused):
        raise
    except Exception as exc:
        raise ApiError(503, "UNAVAILABLE", f"{type(exc).__name__}: {exc}"[:300]) from None


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ApiError(400, "INVALID_JSON", f"the body is not JSON: {exc}"[:200]) from None
    if not isinstance(value, dict):
        raise ApiError(422, "INVALID_REQUEST", "the body must be a JSON object")
    return value


def _audit(request: Request, event: str, **fields: Any) -> None:
    api_state(request).log.info(event, audit=True, correlation_id=correlation(request), **fields)


# -- the fleet ------------------------------------------------------------------------------


@router.get("/v1/workers", responses=ERRORS, openapi_extra={"security": OPEN_OR_BEARER})
async def list_workers(request: Request) -> dict[str, Any]:
    """Every worker instance: lifecycle, readiness and reasons, partitions, lag, last error,
    config fingerprint, version and the commands in effect (heartbeats joined to the groups)."""
    _allow(request, write=False)
    svc = api_state(request)
    return {"workers": await _blocking(control.fleet_workers, svc.settings, svc.topology)}


@router.get("/v1/groups", responses=ERRORS, openapi_extra={"security": OPEN_OR_BEARER})
async def list_groups(request: Request) -> dict[str, Any]:
    """Each worker's consumer group: committed offset, end offset and lag per input partition."""
    _allow(request, write=False)
    svc = api_state(request)
    return {"groups": await _blocking(control.group_offsets, svc.settings, svc.topology)}


@router.get(
    "/v1/topology.yaml",
    response_class=PlainTextResponse,
    responses={**ERRORS, 200: {"content": {"application/yaml": {"schema": {"type": "object"}}}}},
    openapi_extra={"security": OPEN_OR_BEARER},
)
def topology_yaml(request: Request) -> PlainTextResponse:
    """The fleet DAG as YAML (the same document as `GET /v1/topology`), for export."""
    _allow(request, write=False)
    body = yaml.safe_dump(dag.as_json(api_state(request).topology), sort_keys=False)
    return PlainTextResponse(body, media_type="application/yaml")


# -- commands -------------------------------------------------------------------------------


@router.get("/v1/control", responses=ERRORS, openapi_extra={"security": OPEN_OR_BEARER})
async def get_control(request: Request) -> dict[str, Any]:
    """The active commands (the fold of fleet.control) and how many were recorded."""
    _allow(request, write=False)
    return dict(await _blocking(control.control_state, api_state(request).settings))


def _recorder(request: Request) -> Recorder:
    """One producer per api process for commands (made on first use)."""
    state = request.app.state
    if getattr(state, "control_recorder", None) is None:
        state.control_recorder = Recorder(api_state(request).settings)
    recorder: Recorder = state.control_recorder
    return recorder


async def _command(request: Request, action: str) -> JSONResponse:
    _allow(request, write=True)
    body = await _json_object(request)
    svc = api_state(request)
    for name, kind in (("worker", str), ("symbol", str), ("reason", str), ("mode", str), ("partition", int)):
        if name in body and (not isinstance(body[name], kind) or isinstance(body[name], bool)):
            raise ApiError(422, "INVALID_REQUEST", f"{name} must be a {kind.__name__} (or left out)")
    try:
        cmds = await _blocking(
            control.issue, _recorder(request), svc.topology, action, body, correlation(request)
        )
    except ControlError as exc:
        _audit(request, "control_refused", action=action, code=exc.code, body=body)
        status = 404 if exc.code in ("UNKNOWN_WORKER", "UNKNOWN_PARTITION") else 422
        raise ApiError(status, exc.code, exc.message) from None
    _audit(
        request,
        "control_command",
        action=action,
        command_ids=sorted({c.command_id for c in cmds}),
        keys=[c.key for c in cmds],
        reason=body.get("reason", ""),
    )
    return JSONResponse(
        {"commands": [c.as_dict() for c in cmds], "correlation_id": correlation(request)}, status_code=202
    )


def _command_route(action: str, what: str) -> None:
    async def handler(request: Request) -> JSONResponse:
        return await _command(request, action)

    handler.__name__ = f"control_{action}"
    handler.__doc__ = what
    router.post(
        f"/v1/control/{action}",
        status_code=202,
        responses=ERRORS,
        openapi_extra={"requestBody": TARGET_BODY, "security": BEARER},
    )(handler)


_command_route("pause", "Pause a worker, a partition or a symbol's partition (input waits in Kafka).")
_command_route("resume", "End a pause and/or a halt of the same target; workers continue where they stopped.")
_command_route(
    "halt", "The kill switch: enriched signals of a symbol (or of every symbol) get weight 0 and `halted`."
)


# -- replays --------------------------------------------------------------------------------


def _jobs(request: Request) -> ReplayJobs:
    state = request.app.state
    if getattr(state, "replay_jobs", None) is None:
        svc = api_state(request)
        state.replay_jobs = ReplayJobs(svc.settings, svc.log)
    jobs: ReplayJobs = state.replay_jobs
    return jobs


@router.post(
    "/v1/replays",
    status_code=202,
    responses=ERRORS,
    openapi_extra={
        "security": BEARER,
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["topic"],
                        "properties": {
                            "topic": {"type": "string", "enum": list(REPLAYABLE)},
                            "symbol": {"type": "string"},
                            "from_ms": {"type": "integer"},
                            "to_ms": {"type": "integer"},
                            "config_source": {"type": "string", "enum": ["recorded", "current"]},
                        },
                    }
                }
            },
        },
    },
)
async def post_replay(request: Request) -> JSONResponse:
    """Start `regime-fleet replay` as a job: 202 with its id; progress at /v1/replays/{id}/events."""
    _allow(request, write=True)
    body = {**await _json_object(request), "correlation_id": correlation(request)}
    jobs = _jobs(request)
    try:
        job = await _blocking(jobs.check, body)
    except BadReplay as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    jobs.start(job)
    _audit(request, "replay_started", job_id=job.job_id, topic=job.topic, symbol=job.symbol)
    return JSONResponse(
        {"job_id": job.job_id, "state": job.state, "correlation_id": correlation(request)},
        status_code=202,
        headers={"Location": f"/v1/replays/{job.job_id}"},
    )


def _job(request: Request, job_id: str) -> Any:
    job = _jobs(request).jobs.get(job_id)
    if job is None:
        raise ApiError(404, "UNKNOWN_JOB", f"no replay job {job_id!r} on this api process")
    return job


@router.get("/v1/replays/{job_id}", responses=ERRORS, openapi_extra={"security": OPEN_OR_BEARER})
def get_replay(request: Request, job_id: str) -> dict[str, Any]:
    """The job: state, progress and, once done, the report `regime-fleet replay` prints."""
    _allow(request, write=False)
    return dict(_job(request, job_id).as_dict())


@router.get(
    "/v1/replays/{job_id}/events",
    response_class=EventSourceResponse,
    responses=ERRORS,
    openapi_extra={"security": OPEN_OR_BEARER},
)
async def replay_events(request: Request, job_id: str) -> EventSourceResponse:
    """SSE: `progress` (done, total) while it runs, then one `report` (or `failed`) event."""
    _allow(request, write=False)
    job = _job(request, job_id)

    async def frames() -> AsyncIterator[dict[str, str]]:
        while job.state in ("queued", "running"):
            yield {
                "event": "progress",
                "data": json.dumps({"state": job.state, "done": job.done, "total": job.total}),
            }
            job.changed.clear()
            await asyncio.to_thread(job.changed.wait, 1.0)
        final = "report" if job.state == "done" else "failed"
        yield {"event": final, "data": json.dumps(job.as_dict())}

    return EventSourceResponse(frames(), ping=15)


# -- models ---------------------------------------------------------------------------------


@router.get("/v1/models", responses=ERRORS, openapi_extra={"security": OPEN_OR_BEARER})
def list_models(request: Request) -> dict[str, Any]:
    """Each trained version under trainer.report_dir with its report's headline numbers."""
    _allow(request, write=False)
    return {"models": control.list_models(api_state(request).settings)}


@router.get(
    "/v1/models/{version}",
    responses={**ERRORS, 200: {"content": {"application/json": {}, "image/png": {}}}},
    openapi_extra={"security": OPEN_OR_BEARER},
)
def get_model(request: Request, version: str, format: str = "json") -> Any:
    """One version's training report: JSON (`?format=json`) or the PNG (`?format=png`)."""
    _allow(request, write=False)
    settings = api_state(request).settings
    if format == "png":
        path = control.model_png(settings, version)
        if path is None:
            raise ApiError(404, "UNKNOWN_MODEL", f"no report.png for model version {version!r}")
        return FileResponse(path, media_type="image/png")
    if format != "json":
        raise ApiError(422, "INVALID_REQUEST", "format: json or png")
    report = control.model_report(settings, version)
    if report is None:
        raise ApiError(404, "UNKNOWN_MODEL", f"no report.json for model version {version!r}")
    return report


async def _publish(request: Request, version: str, action: str) -> JSONResponse:
    client = _allow(request, write=True)
    settings = api_state(request).settings
    try:
        placed = await _blocking(control.promote, settings, version)
    except NoBooster as exc:
        raise ApiError(404, "UNKNOWN_MODEL", str(exc)) from None
    _audit(request, f"model_{action}", model_version=version, sha256=placed["sha256"], client=client)
    return JSONResponse({**placed, "action": action, "correlation_id": correlation(request)}, status_code=202)


@router.post(
    "/v1/models/{version}/promote",
    status_code=202,
    responses={
        **ERRORS,
        409: {"model": bodies.Error, "description": "PROMOTION_REFUSED: the verdict's reasons"},
    },
    openapi_extra={"security": BEARER},
)
async def promote_model(request: Request, version: str, force: bool = False) -> JSONResponse:
    """Make a challenger (or a trained version) the live model when it passes the promotion rule
    (docs/training.md): 409 PROMOTION_REFUSED with the verdict's reasons otherwise; `?force=true`
    overrides the rule and is recorded as forced (`regime-fleet model promote`)."""
    client = _allow(request, write=True)
    settings = api_state(request).settings
    try:
        done = await _blocking(functools.partial(promote, force=force, by=f"api:{client}"), settings, version)
    except PromotionRefused as exc:
        raise ApiError(409, "PROMOTION_REFUSED", str(exc)) from None
    except NoBooster as exc:
        raise ApiError(404, "UNKNOWN_MODEL", str(exc)) from None
    sha = done.record["booster_sha256"]
    _audit(request, "model_promote", model_version=version, sha256=sha, forced=done.forced, client=client)
    body = {
        "model_version": version,
        "sha256": sha,
        "copies": done.copies,
        "action": "promote",
        "forced": done.forced,
        "verdict": {"passed": done.verdict.passed, "reasons": done.verdict.reasons},
        "correlation_id": correlation(request),
    }
    return JSONResponse(body, status_code=202)


@router.post(
    "/v1/models/{version}/rollback", status_code=202, responses=ERRORS, openapi_extra={"security": BEARER}
)
async def rollback_model(request: Request, version: str) -> JSONResponse:
    """Make an earlier trained version live again (`regime-fleet model rollback`)."""
    return await _publish(request, version, "rollback")
