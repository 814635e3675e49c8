"""The demo's webhook receiver: verifies each delivery's Standard Webhooks signature and writes
what arrived (a job's end, or an event) to `webhooks.log` beside its data (the banner says
where), as an agent's own system would before acting on it."""

from __future__ import annotations

import hmac
import time
from pathlib import Path

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pasarela.config.webhooks import secret_key
from pasarela.webhooks.signing import signature

TOLERANCE = 300  # seconds: an older (or future) timestamp is a replay, refused


def create_webhook_receiver_app(db_path: str, secret: str, base_url: str) -> Starlette:
    key = secret_key(secret)
    log = Path(db_path).with_name("webhooks.log")

    async def receive(request: Request) -> Response:
        body = await request.body()
        message_id = request.headers.get("webhook-id", "")
        stamp = request.headers.get("webhook-timestamp", "")
        given = request.headers.get("webhook-signature", "").split()
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > TOLERANCE:
            return JSONResponse({"error": "missing or stale webhook-timestamp"}, status_code=401)
        expected = signature(key, message_id, int(stamp), body)
        if not any(hmac.compare_digest(expected, candidate) for candidate in given):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        event = orjson.loads(body)
        data = event.get("data", {})
        if "specversion" in data:  # an event (a CloudEvent), not a job's end
            about = f"source={data.get('source')} subject={data.get('subject')} data={orjson.dumps(data.get('data')).decode()}"
        else:
            about = f"job={data.get('id')} tool={data.get('tool')} status={data.get('status')}"
        line = f"{event.get('timestamp')} {event.get('type')} id={message_id} verified=yes {about}\n"
        with log.open("a", encoding="utf-8") as out:
            out.write(line)
        print(line, end="", flush=True)
        return Response(status_code=204)

    return Starlette(
        routes=[
            Route("/healthz", lambda r: JSONResponse({"status": "ok"})),
            Route("/hooks", receive, methods=["POST"]),
        ]
    )
