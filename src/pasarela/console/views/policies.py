"""Policies: the role grants, the Cedar sources, and an explain form — principal, tool, arguments
→ the decision and the policies that made it (as `pasarela policy explain`)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from pasarela.console.access import csrf_refusal
from pasarela.console.core import Visit
from pasarela.console.forms import read_form
from pasarela.console.render import page
from pasarela.errors import InvalidRequest, PasarelaError
from pasarela.pipeline.authorize import Decision
from pasarela.server.arguments import check_arguments

DOORS = ("rest", "mcp", "cli")


async def policies(visit: Visit) -> Response:
    return _page(visit, {"principal": "", "tool": "", "arguments": "{}", "door": "rest"}, None, None)


async def explain(visit: Visit) -> Response:
    form = await read_form(visit.request)
    if isinstance(form, Response):
        return form
    if (refused := csrf_refusal(visit, form)) is not None:
        return refused
    asked = {
        "principal": form.get("principal", "").strip(),
        "tool": form.get("tool", "").strip(),
        "arguments": form.get("arguments", "").strip() or "{}",
        "door": form.get("door", "rest"),
    }
    try:
        report = _explain(visit, asked)
    except PasarelaError as exc:
        await visit.console.trail.record(
            visit.principal.id, "policy_explain_failed", visit.request_id, tool=asked["tool"], details=asked
        )
        return _page(visit, asked, None, exc.detail, status=400)
    await visit.console.trail.record(
        visit.principal.id,
        "policy_explained",
        visit.request_id,
        tool=asked["tool"],
        details={**asked, "decision": report["decision"]},
    )
    return _page(visit, asked, report, None)


def _explain(visit: Visit, asked: dict[str, str]) -> dict[str, Any]:
    runtime = visit.runtime
    if asked["door"] not in DOORS:
        raise InvalidRequest(f"door: expected one of {', '.join(DOORS)}")
    try:
        arguments = orjson.loads(asked["arguments"])
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"arguments: not valid JSON ({exc})") from None
    if not isinstance(arguments, dict):
        raise InvalidRequest('arguments: expected a JSON object, e.g. {"customer_id": "12345"}')
    check_arguments(arguments, tool=asked["tool"], max_depth=runtime.config.settings.server.max_nesting_depth)
    principal = runtime.authenticator.local_principal(asked["principal"])
    spec = runtime.gateway.catalog.get(asked["tool"])
    decision = runtime.authorizer.explain(principal, spec, arguments, door=asked["door"])
    report = _decision(decision)
    if decision.shadow is not None:
        report["shadow"] = _decision(decision.shadow)
    return report


def _decision(decision: Decision) -> dict[str, Any]:
    return {
        "decision": "allow" if decision.allowed else "deny",
        "policies": [
            {"policy": p.label, "effect": p.effect, "source": p.source, "reason": p.reason}
            for p in decision.policies
        ],
        "errors": list(decision.errors),
    }


def _page(
    visit: Visit,
    asked: dict[str, str],
    report: dict[str, Any] | None,
    error: str | None,
    *,
    status: int = 200,
) -> Response:
    runtime = visit.runtime
    settings = runtime.config.settings
    return page(
        visit,
        "policies.html",
        status=status,
        asked=asked,
        report=report,
        error=error,
        doors=DOORS,
        principals=sorted(runtime.authenticator.api_keys.principal_ids()),
        tool_names=sorted(runtime.gateway.catalog.names()),
        access=settings.access,
        sources=[
            {"where": source.file or "inline", "mode": source.mode, "text": source.inline}
            for source in settings.policies
        ],
    )
