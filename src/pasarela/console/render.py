"""Pages as HTML: Jinja2 templates (autoescaped, every value redacted), and the headers every
console answer carries."""

from __future__ import annotations

import datetime as dt
from typing import Any

import jinja2
from markupsafe import Markup
from starlette.responses import HTMLResponse

from pasarela import jsonsafe
from pasarela.console.core import Visit
from pasarela.secrets import Redactor

# Nothing from elsewhere, nothing inline: the console's own stylesheet and script only.
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # no-referrer would make browsers send `Origin: null` on our own forms
    "Cache-Control": "no-store",
}


def environment(redactor: Redactor) -> jinja2.Environment:
    """Templates from the package; `finalize` masks any known secret in every value shown."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pasarela.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=lambda value: _masked(redactor, value),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(pct=pct, ms=ms, when=when, pretty=pretty, money=money)
    return env


def _masked(redactor: Redactor, value: Any) -> Any:
    if isinstance(value, Markup):  # our own markup (charts): masked, and still markup
        return Markup(redactor.redact(str(value)))  # noqa: S704 - built escaped by charts.py
    return redactor.redact(value) if isinstance(value, str) else value


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.2f} %"


def ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} ms"


def money(value: float) -> str:
    return f"{value:,.4f}"


def when(value: float | None) -> str:
    if value is None:
        return "–"
    return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def pretty(value: Any) -> str:
    return jsonsafe.dumps(value, indent=True).decode()


def page(visit: Visit, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
    console = visit.console
    html = console.templates.get_template(template).render(
        visit=visit, principal=visit.principal.id, csrf=visit.csrf, **values
    )
    # Belt and braces: whatever reached the page, no known secret leaves in it.
    return HTMLResponse(console.redactor.redact(html), status_code=status, headers=HEADERS)


def plain(env: jinja2.Environment, status: int, title: str, message: str, **values: Any) -> HTMLResponse:
    """A page with no console content: refusals, the login form."""
    html = env.get_template("plain.html").render(title=title, message=message, **values)
    return HTMLResponse(html, status_code=status, headers=HEADERS)
