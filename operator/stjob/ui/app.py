"""The Starlette application: board, job page, live updates (server-sent events) and CSRF-checked actions.

The server holds no credentials of its own: every request goes through ``JobSource`` (the user's
kubeconfig), so what the API server forbids, the page cannot do either; it shows the refusal.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import yaml
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from stjob.api.resource import API_VERSION, KIND, SentenceTransformerJob
from stjob.ui.curves import LOG_METRICS_LINES, log_records, read_metrics
from stjob.ui.form import form_fields, form_html
from stjob.ui.render import board_page, board_row, job_page, submit_page
from stjob.ui.source import READ_ONLY, Forbidden, JobSource, WatchEvent

STATIC_DIR = Path(__file__).parent / "static"
#: Hosts the page answers to: a page bound to 127.0.0.1 must still refuse DNS-rebinding requests.
LOCAL_HOSTS = ("127.0.0.1", "localhost")
ACTIONS = ("delete", "suspend", "resume")
#: Lines of the trainer's log the job page shows (ui.js re-reads them to follow).
LOG_TAIL_LINES = 200


def _now() -> datetime:
    return datetime.now(timezone.utc)


def board_changes(previous: dict[str, dict[str, Any]], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the board must change: rows new or different since ``previous``, and keys gone."""
    current = {r["key"]: r for r in rows}
    return {
        "upsert": [r for k, r in current.items() if previous.get(k) != r],
        "remove": sorted(set(previous) - set(current)),
    }


def resource(form: dict[str, Any]) -> dict[str, Any]:
    """The resource the submit form describes: ``{"name", "namespace", "spec"}`` -> a manifest."""
    meta = {"name": form.get("name") or "", "namespace": form.get("namespace") or "default"}
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": meta, "spec": form.get("spec") or {}}


def validation_errors(body: dict[str, Any]) -> list[dict[str, str]]:
    """The manifest's pydantic errors, each naming its field (``spec.training.epochs``); [] when valid."""
    try:
        SentenceTransformerJob.model_validate(body)
    except ValidationError as exc:
        return [{"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]} for err in exc.errors()]
    return []


def create_app(
    source: JobSource,
    runs_dir: Path | None = None,
    heartbeat_s: float = 15.0,
    hosts: tuple[str, ...] = LOCAL_HOSTS,
    now: Callable[[], datetime] = _now,
) -> Starlette:
    """The page over ``source``; the event stream lasts as long as the source's watch and the client.

    ``runs_dir``: where the jobs' run folders are readable here (``metrics.jsonl`` for the curves); without
    it, a job's curves come from its pod log.
    """
    csrf = secrets.token_urlsafe(32)
    read_only = source.read_only

    async def rows() -> list[dict[str, Any]]:
        jobs = await run_in_threadpool(source.list_jobs)
        stamp = now()
        return sorted((board_row(j, stamp) for j in jobs), key=lambda r: r["key"])

    async def board(request: Request) -> Response:
        namespace, phase = request.query_params.get("namespace", ""), request.query_params.get("phase", "")
        try:
            listed, error = await rows(), ""
        except Forbidden as exc:
            listed, error = [], str(exc)
        return HTMLResponse(board_page(listed, namespace, phase, csrf, error, read_only))

    async def events(request: Request) -> Response:
        async def stream() -> AsyncIterator[str]:
            loop, stop = asyncio.get_running_loop(), threading.Event()
            inbox: asyncio.Queue[WatchEvent | None] = asyncio.Queue()

            def deliver(item: WatchEvent | None) -> None:
                try:
                    loop.call_soon_threadsafe(inbox.put_nowait, item)
                except RuntimeError:  # the loop is closed: the server stopped while the watch was blocked
                    stop.set()

            def pump() -> None:  # the watch blocks: a thread feeds the loop
                try:
                    for event in source.watch_jobs(stop):
                        deliver(event)
                except Forbidden as exc:
                    deliver(("ERROR", {"message": str(exc)}))
                finally:
                    deliver(None)  # the watch ended

            threading.Thread(target=pump, daemon=True).start()
            jobs: dict[str, dict[str, Any]] = {}
            previous: dict[str, dict[str, Any]] = {}
            try:
                while True:
                    try:
                        first = await asyncio.wait_for(inbox.get(), timeout=heartbeat_s)
                    except asyncio.TimeoutError:
                        if await request.is_disconnected():
                            return
                        yield ": keep-alive\n\n"
                        continue
                    batch = [first]
                    while not inbox.empty():  # a burst (every job ADDED at the start) becomes one message
                        batch.append(inbox.get_nowait())
                    ended = None in batch
                    for item in batch:
                        if item is None:
                            continue
                        kind, obj = item
                        if kind == "ERROR":
                            yield f"event: error\ndata: {json.dumps(obj.get('message'))}\n\n"
                            continue
                        meta = obj.get("metadata") or {}
                        key = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
                        if kind == "DELETED":
                            jobs.pop(key, None)
                        else:
                            jobs[key] = obj
                    stamp = now()
                    current = [board_row(o, stamp) for o in jobs.values()]
                    changes = board_changes(previous, current)
                    previous = {r["key"]: r for r in current}
                    if changes["upsert"] or changes["remove"]:
                        yield f"data: {json.dumps(changes)}\n\n"
                    if ended:
                        return
            finally:
                stop.set()

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    async def job(request: Request) -> Response:
        namespace, name = request.path_params["namespace"], request.path_params["name"]
        try:
            obj = await run_in_threadpool(source.get_job, namespace, name)
            evs = await run_in_threadpool(source.events, namespace, name)
        except Forbidden as exc:
            return HTMLResponse(board_page([], "", "", csrf, str(exc), read_only), status_code=403)
        return HTMLResponse(job_page(obj, evs, now(), csrf, read_only=read_only))

    async def metrics(request: Request) -> Response:
        namespace, name = request.path_params["namespace"], request.path_params["name"]
        try:
            obj = await run_in_threadpool(source.get_job, namespace, name)
        except Forbidden as exc:
            return JSONResponse({"error": str(exc)}, status_code=403)
        summary = (obj.get("status") or {}).get("metrics")
        records = read_metrics(runs_dir, obj)
        if not records and not read_only:  # no run folder here: the Trainer's events in the pod log
            try:
                records = log_records(await run_in_threadpool(source.log_tail, namespace, name, LOG_METRICS_LINES))
            except Forbidden:
                records = []  # no pod (yet), or logs not allowed: the page says there is no history
        return JSONResponse({"records": records, "summary": summary})

    async def logs(request: Request) -> Response:
        namespace, name = request.path_params["namespace"], request.path_params["name"]
        try:
            text = await run_in_threadpool(source.log_tail, namespace, name, LOG_TAIL_LINES)
        except Forbidden as exc:
            return JSONResponse({"error": str(exc)}, status_code=403)
        return JSONResponse({"text": text})

    async def action(request: Request) -> Response:
        namespace, name, verb = (request.path_params[k] for k in ("namespace", "name", "action"))
        # Our forms are urlencoded; parsing them here spares a multipart dependency.
        token = (parse_qs((await request.body()).decode("utf-8", "replace")).get("csrf") or [""])[0]
        if verb not in ACTIONS or not hmac.compare_digest(token, csrf):
            return HTMLResponse("missing or wrong CSRF token", status_code=403)
        try:
            if verb == "delete":
                await run_in_threadpool(source.delete_job, namespace, name)
            else:
                await run_in_threadpool(source.set_suspend, namespace, name, verb == "suspend")
        except Forbidden as exc:
            error = f"{verb} {namespace}/{name}: {exc}"
            return HTMLResponse(board_page([], "", "", csrf, error, read_only), status_code=403)
        return RedirectResponse("/" if verb == "delete" else f"/jobs/{namespace}/{name}", status_code=303)

    async def submitted(request: Request) -> tuple[dict[str, Any] | None, Response | None]:
        """The manifest a form POST describes, or the reply refusing it (CSRF, not JSON)."""
        if not hmac.compare_digest(request.headers.get("x-csrf-token", ""), csrf):
            return None, JSONResponse({"errors": [{"field": "", "message": "missing or wrong CSRF token"}]}, 403)
        try:
            form = await request.json()
        except ValueError:
            form = None
        if not isinstance(form, dict):
            return None, JSONResponse({"errors": [{"field": "", "message": "expected a JSON object"}]}, 400)
        return resource(form), None

    async def validate(request: Request) -> Response:
        body, refusal = await submitted(request)
        if body is None:
            return refusal or Response(status_code=400)
        preview = yaml.safe_dump(body, sort_keys=False)
        return JSONResponse({"errors": validation_errors(body), "yaml": preview})

    async def create(request: Request) -> Response:
        """Validate here, then a server-side dry run (admission, RBAC, CRD schema), then the real create."""
        body, refusal = await submitted(request)
        if body is None:
            return refusal or Response(status_code=400)
        errors = validation_errors(body)
        if errors:
            return JSONResponse({"errors": errors}, status_code=422)
        namespace = body["metadata"]["namespace"]
        try:
            await run_in_threadpool(source.create_job, namespace, body, True)
            await run_in_threadpool(source.create_job, namespace, body, False)
        except Forbidden as exc:
            return JSONResponse({"errors": [{"field": "", "message": str(exc)}]}, status_code=403)
        return JSONResponse({"url": f"/jobs/{namespace}/{body['metadata']['name']}"}, status_code=201)

    fields_html = form_html(form_fields())

    async def new(request: Request) -> Response:
        if read_only:
            return HTMLResponse(board_page([], "", "", csrf, READ_ONLY, read_only), status_code=403)
        return HTMLResponse(submit_page(fields_html, csrf))

    return Starlette(
        routes=[
            Route("/", board),
            Route("/events", events),
            Route("/jobs/{namespace}/{name}", job),
            Route("/jobs/{namespace}/{name}/metrics", metrics),
            Route("/jobs/{namespace}/{name}/logs", logs),
            Route("/jobs/{namespace}/{name}/{action}", action, methods=["POST"]),
            Route("/new", new),
            Route("/api/validate", validate, methods=["POST"]),
            Route("/api/jobs", create, methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))],
    )


def serve(app: Starlette, port: int) -> None:
    """Serve on 127.0.0.1 only: the page acts with the user's credentials."""
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
