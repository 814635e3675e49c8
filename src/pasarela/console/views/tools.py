"""Tools: the catalog with each tool's schemas, the pins, and quarantined tools with their diff
and an Approve action."""

from __future__ import annotations

import re

from starlette.responses import RedirectResponse, Response

from pasarela.catalog.pinning import ToolPins
from pasarela.console.access import csrf_refusal
from pasarela.console.core import Visit
from pasarela.console.forms import read_form
from pasarela.console.render import HEADERS, page

TOOL_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


async def tools(visit: Visit) -> Response:
    catalog = visit.runtime.gateway.catalog
    pins = ToolPins(visit.runtime.state)
    quarantined = []
    for name in catalog.quarantined():
        try:
            diff = await pins.diff(name)
        except KeyError:
            diff = None
        quarantined.append((name, diff or "(the change was approved already: it is served after a reload)"))
    params = visit.request.query_params
    return page(
        visit,
        "tools.html",
        tools=sorted(catalog, key=lambda t: t.name),
        pins=await pins.listing(),
        quarantined=quarantined,
        approved=approved if TOOL_NAME.match(approved := params.get("approved", "")) else None,
        reloaded=params.get("reloaded") == "1",
    )


async def approve(visit: Visit) -> Response:
    form = await read_form(visit.request)
    if isinstance(form, Response):
        return form
    if (refused := csrf_refusal(visit, form)) is not None:
        return refused
    name = visit.request.path_params["name"]
    if not TOOL_NAME.match(name):
        return page(visit, "message.html", status=400, title="Approve", message="not a tool name")
    try:
        approved = await ToolPins(visit.runtime.state).approve(name)
    except KeyError:
        return page(
            visit, "message.html", status=404, title="Approve", message=f"no tool named {name!r} is pinned"
        )
    reloaded = approved and await _reload(visit)
    await visit.console.trail.record(
        visit.principal.id,
        "tool_approved" if approved else "tool_approve_nothing_pending",
        visit.request_id,
        tool=name,
        details={"reloaded": reloaded},
        durable=True,
    )
    return RedirectResponse(
        f"/admin/tools?approved={name}&reloaded={int(reloaded)}", status_code=303, headers=HEADERS
    )


async def _reload(visit: Visit) -> bool:
    """Serve the approved definition now, as SIGHUP would (this process only)."""
    console = visit.console
    if console.reload is None:
        return False
    old = await console.live.reload(console.reload)
    if old is None:
        return False  # the configuration no longer loads: the running one is kept (logged)
    console.in_background(console.live.retire(old, console.live.drain_time(old)))
    return True
