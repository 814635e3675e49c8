"""Audit: search the trail (by principal, tool, outcome, how far back), and verify its chain."""

from __future__ import annotations

import time

import orjson
from starlette.responses import RedirectResponse, Response

from pasarela.audit import search, verify
from pasarela.audit.anchors import AnchorFileError, read_anchors
from pasarela.audit.reader import Verdict, count_records
from pasarela.config.durations import parse_duration
from pasarela.console.access import csrf_refusal
from pasarela.console.core import Verification, Visit
from pasarela.console.forms import read_form
from pasarela.console.render import HEADERS, page

FILTERS = ("principal", "tool", "outcome")
LIMITS = (25, 100, 500)


async def audit(visit: Visit) -> Response:
    params = visit.request.query_params
    asked = {key: params.get(key, "").strip()[:200] for key in FILTERS}
    since_text = params.get("since", "").strip()
    limit = int(params["limit"]) if params.get("limit", "") in {str(n) for n in LIMITS} else LIMITS[0]
    error = None
    since = None
    if since_text:
        try:
            since = time.time() - parse_duration(since_text)
        except ValueError as exc:
            error = f"since: {exc}"
    records = []
    searched = "search" in params
    if error is None:
        records = await search(
            visit.runtime.state,
            principal=asked["principal"] or None,
            tool=asked["tool"] or None,
            outcome=asked["outcome"] or None,
            since=since,
            limit=limit,
        )
        records.reverse()  # newest first on screen
    if searched:
        details = {**asked, "since": since_text, "limit": limit, "found": len(records)}
        await visit.console.trail.record(
            visit.principal.id, "audit_searched", visit.request_id, details=details
        )
    for record in records:
        record["policies"] = _labels(record["policies"])
    return page(
        visit,
        "audit.html",
        status=400 if error else 200,
        asked=asked,
        since=since_text,
        limit=limit,
        limits=LIMITS,
        error=error,
        records=records,
        searched=searched,
        total=await count_records(visit.runtime.state),
        verification=visit.console.verification,
    )


async def verify_chain(visit: Visit) -> Response:
    form = await read_form(visit.request)
    if isinstance(form, Response):
        return form
    if (refused := csrf_refusal(visit, form)) is not None:
        return refused
    loaded = visit.runtime.config
    settings = loaded.settings.audit
    key = settings.checkpoint_key.get_secret_value().encode() if settings.checkpoint_key else None
    try:
        anchors = read_anchors([loaded.resolve_path(settings.anchor_file)] if settings.anchor_file else [])
        verdict = await verify(visit.runtime.state, key, anchors)
    except AnchorFileError as exc:
        verdict = Verdict(False, 0, f"the anchor file cannot be read: {exc}")
    visit.console.verification = Verification(verdict, time.time(), visit.principal.id)
    await visit.console.trail.record(
        visit.principal.id,
        "audit_verified" if verdict.ok else "audit_verify_failed",
        visit.request_id,
        details={"records": verdict.records, "message": verdict.message},
        durable=True,
    )
    return RedirectResponse("/admin/audit", status_code=303, headers=HEADERS)


def _labels(policies: str) -> str:
    try:
        labels = orjson.loads(policies)
    except orjson.JSONDecodeError:
        return policies
    return ", ".join(map(str, labels)) if isinstance(labels, list) else policies
