"""The REST door as OpenAPI 3.1, for one principal (`GET /v1/openapi.json`).

One operation per tool the caller may call (`POST /v1/tools/{name}:call`, its operationId the
tool's name, its request body the tool's input schema, its answer the output schema and the
problem documents), then the door's other routes: the catalog, jobs and events. OpenAPI 3.1
schemas are JSON Schema 2020-12, so tool schemas are used as they are; each is placed under
`components/schemas` and its own `#/...` references are rewritten to point inside it there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pasarela import __version__
from pasarela.catalog.spec import ToolSpec

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
JOB_REF = {"$ref": "#/components/schemas/JobAnswer"}
# What any tool call may be refused or fail with (errors.py draws the tree).
CALL_PROBLEMS = {
    "400": "The body is not a JSON object with `arguments`",
    "401": "No valid credentials",
    "403": "A policy denies this call",
    "404": "No such tool for this caller",
    "409": "The tool is quarantined, or an Idempotency-Key was reused with other arguments",
    "413": "The body is larger than the gateway accepts",
    "422": "The arguments do not match the input schema (the failing paths are listed)",
    "429": "Rate limit, quota or budget reached (see Retry-After)",
    "502": "The backend answered with an error, or broke the tool's output contract",
    "503": "The backend is unavailable, or the call cannot be audited (see Retry-After)",
    "504": "The backend did not answer in time",
}
READ_PROBLEMS = {k: CALL_PROBLEMS[k] for k in ("400", "401")}

Route = dict[str, Any]


def openapi_document(
    tools: Iterable[ToolSpec],
    *,
    server_url: str,
    execution_of: Callable[[str], str],
    tools_only: bool = False,
) -> dict[str, Any]:
    """The description of the REST door for the caller who may call `tools`.
    `execution_of(name)` is sync, async or optional (whether the tool runs as a job)."""
    components: dict[str, Any] = {"Problem": _PROBLEM, "Job": _JOB, "JobAnswer": _JOB_ANSWER}
    paths: dict[str, Any] = {}
    startable: list[str] = []
    for tool in tools:
        execution = execution_of(tool.name)
        paths[f"/v1/tools/{tool.name}:call"] = {"post": _call_operation(tool, execution, components)}
        if execution != "sync":
            startable.append(tool.name)
    if not tools_only:
        paths.update(_door_routes(startable))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Pasarela tool API",
            "version": __version__,
            "description": "The tools this caller may use, each one operation: POST its arguments, "
            "get its result. Every call is authorized, validated and audited; a refused or failed "
            "call answers with an RFC 9457 problem document saying what to fix.",
        },
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _call_operation(tool: ToolSpec, execution: str, components: dict[str, Any]) -> dict[str, Any]:
    arguments = _component(components, f"{tool.name}.input", tool.input_schema)
    needs_arguments = bool(tool.input_schema.get("required"))
    body: dict[str, Any] = {
        "type": "object",
        "properties": {"arguments": arguments},
        "additionalProperties": False,
    }
    if needs_arguments:
        body["required"] = ["arguments"]
    result: Mapping[str, Any] = {}
    if tool.output_schema is not None:
        result = _component(components, f"{tool.name}.output", tool.output_schema)
    responses: dict[str, Any] = {
        "200": _json_answer(
            "The tool's result and the gateway's notes on the call",
            {
                "type": "object",
                "required": ["result", "meta"],
                "properties": {"result": result, "meta": {"$ref": "#/components/schemas/CallMeta"}},
            },
        )
    }
    components.setdefault("CallMeta", _CALL_META)
    if execution == "async":
        responses["202"] = _json_answer("The tool always runs as a job: follow Location", JOB_REF)
    responses.update(_problems(CALL_PROBLEMS))
    operation: dict[str, Any] = {
        "operationId": tool.name,
        "summary": _summary(tool.description),
        "description": tool.description,
        "tags": ["tools"],
        "parameters": [_IDEMPOTENCY_KEY],
        "requestBody": {"required": needs_arguments, "content": {"application/json": {"schema": body}}},
        "responses": responses,
    }
    if tool.annotations.read_only:
        operation["x-pasarela-read-only"] = True
    return operation


def _component(components: dict[str, Any], name: str, schema: Mapping[str, Any]) -> dict[str, str]:
    """Register `schema` as `components/schemas/name`, its `#/…` references rebased there."""
    base = f"#/components/schemas/{name}"
    components[name] = _rebased(schema, base)
    return {"$ref": base}


def _rebased(node: Any, base: str) -> Any:
    if isinstance(node, Mapping):
        out = {k: _rebased(v, base) for k, v in node.items()}
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            out["$ref"] = base + ref[1:]
        return out
    if isinstance(node, list):
        return [_rebased(v, base) for v in node]
    return node


def _summary(description: str) -> str:
    first = description.strip().split("\n", 1)[0].split(". ", 1)[0]
    return first[:120] or "Call this tool"


def _json_answer(description: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problems(which: Mapping[str, str]) -> dict[str, Any]:
    return {
        status: {"description": why, "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}}
        for status, why in which.items()
    }


def _query(name: str, description: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def _job_id() -> dict[str, Any]:
    return {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Repeat a call safely: the same key and arguments answer with the first outcome",
    "schema": {"type": "string", "maxLength": 255},
}
_WAIT = _query(
    "wait", "Long poll up to this long, e.g. 30s", {"type": "string", "pattern": r"^\d+(ms|s|m)?$"}
)
_JOB_STATUSES = ["queued", "running", "completed", "failed", "cancelled"]


def _door_routes(startable: list[str]) -> dict[str, Any]:
    """The catalog, this description, jobs and events (docs/jobs.md, docs/events.md)."""
    job_problems = _problems({**READ_PROBLEMS, "404": "No such job of this caller's"})
    routes: dict[str, Any] = {
        "/v1/tools": {
            "get": {
                "operationId": "pasarela_list_tools",
                "summary": "The tools this caller may use, in a function-calling format",
                "tags": ["catalog"],
                "parameters": [
                    _query(
                        "format",
                        "native (MCP field names), openai, anthropic or gemini",
                        {"type": "string", "enum": ["native", "openai", "anthropic", "gemini"]},
                    )
                ],
                "responses": {
                    "200": _json_answer(
                        "The tools",
                        {
                            "type": "object",
                            "required": ["tools"],
                            "properties": {"tools": {"type": "array", "items": {"type": "object"}}},
                        },
                    ),
                    **_problems(READ_PROBLEMS),
                },
            }
        },
        "/v1/openapi.json": {
            "get": {
                "operationId": "pasarela_openapi",
                "summary": "This description, for the caller",
                "tags": ["catalog"],
                "parameters": [
                    _query(
                        "only", "`tools`: the tool operations alone", {"type": "string", "enum": ["tools"]}
                    )
                ],
                "responses": {
                    "200": _json_answer("An OpenAPI 3.1 document", {"type": "object"}),
                    **_problems(READ_PROBLEMS),
                },
            }
        },
        "/v1/jobs": {
            "get": {
                "operationId": "pasarela_list_jobs",
                "summary": "The caller's own jobs, newest first",
                "tags": ["jobs"],
                "parameters": [
                    _query("status", "Only jobs in this state", {"type": "string", "enum": _JOB_STATUSES}),
                    _query("tool", "Only jobs of this tool", {"type": "string"}),
                    _query(
                        "limit",
                        "At most this many (1-200)",
                        {"type": "integer", "minimum": 1, "maximum": 200},
                    ),
                    _query("cursor", "`next_cursor` of the previous page", {"type": "string"}),
                ],
                "responses": {
                    "200": _json_answer(
                        "A page of jobs",
                        {
                            "type": "object",
                            "required": ["jobs", "next_cursor"],
                            "properties": {
                                "jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}},
                                "next_cursor": {"type": ["string", "null"]},
                            },
                        },
                    ),
                    **_problems(READ_PROBLEMS),
                },
            }
        },
        "/v1/jobs/{id}": {
            "get": {
                "operationId": "pasarela_get_job",
                "summary": "A job: its status, progress, and result or problem once finished",
                "tags": ["jobs"],
                "parameters": [_job_id()],
                "responses": {"200": _json_answer("The job", JOB_REF), **job_problems},
            }
        },
        "/v1/jobs/{id}/result": {
            "get": {
                "operationId": "pasarela_job_result",
                "summary": "A job's result once it has finished (waiting up to `wait`)",
                "tags": ["jobs"],
                "parameters": [_job_id(), _WAIT],
                "responses": {
                    "200": _json_answer("The result", {"type": "object", "required": ["result", "meta"]}),
                    "202": _json_answer("Not finished yet: ask again (Retry-After)", JOB_REF),
                    **_problems({**CALL_PROBLEMS, "404": "No such job of this caller's"}),
                },
            }
        },
        "/v1/jobs/{id}:cancel": {
            "post": {
                "operationId": "pasarela_cancel_job",
                "summary": "Cancel a job (a running one is asked to stop)",
                "tags": ["jobs"],
                "parameters": [_job_id()],
                "responses": {
                    "200": _json_answer("Cancelled, or already finished", JOB_REF),
                    "202": _json_answer("Asked to stop", JOB_REF),
                    **job_problems,
                },
            }
        },
        "/v1/events": {
            "get": {
                "operationId": "pasarela_events",
                "summary": "A page of the events this caller may see (long poll with `wait`)",
                "tags": ["events"],
                "parameters": [
                    _query("types", "Event types or globs, comma-separated", {"type": "string"}),
                    _query("after", "Events after this cursor", {"type": "string"}),
                    _WAIT,
                    _query(
                        "limit",
                        "At most this many (1-500)",
                        {"type": "integer", "minimum": 1, "maximum": 500},
                    ),
                    _query("consumer", "Keep this named position on the gateway", {"type": "string"}),
                ],
                "responses": {
                    "200": _json_answer(
                        "Events and the cursor to read on from",
                        {
                            "type": "object",
                            "required": ["events", "next_cursor"],
                            "properties": {
                                "events": {"type": "array", "items": {"type": "object"}},
                                "next_cursor": {"type": "string"},
                            },
                        },
                    ),
                    **_problems({**READ_PROBLEMS, "403": "Not permitted to subscribe to these types"}),
                    "410": {
                        "description": "The cursor is older than the events kept",
                        "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}},
                    },
                },
            }
        },
        "/v1/events/stream": {
            "get": {
                "operationId": "pasarela_event_stream",
                "summary": "The events as Server-Sent Events (resume with Last-Event-ID)",
                "tags": ["events"],
                "parameters": [
                    _query("types", "Event types or globs, comma-separated", {"type": "string"}),
                    _query("after", "Events after this cursor", {"type": "string"}),
                ],
                "responses": {
                    "200": {
                        "description": "A stream of events",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    **_problems({**READ_PROBLEMS, "403": "Not permitted to subscribe to these types"}),
                },
            }
        },
    }
    if startable:
        routes["/v1/tools/{name}:start"] = {
            "post": {
                "operationId": "pasarela_start_job",
                "summary": "Start a tool as a job; follow its Location",
                "tags": ["jobs"],
                "parameters": [
                    {
                        "name": "name",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": startable},
                    },
                    _IDEMPOTENCY_KEY,
                ],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"arguments": {"type": "object"}},
                                "additionalProperties": False,
                            }
                        }
                    },
                },
                "responses": {
                    "202": _json_answer("The job, queued", JOB_REF),
                    **_problems(CALL_PROBLEMS),
                },
            }
        }
    return routes


_PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details; `code` is stable, `detail` says what to fix",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "trace_id": {"type": "string"},
        "retry_after": {"type": "number"},
    },
}
_CALL_META = {
    "type": "object",
    "description": "The gateway's notes on the call (backend, cache, duration, request id …)",
    "properties": {
        "tool": {"type": "string"},
        "request_id": {"type": "string"},
        "duration_ms": {"type": "number"},
    },
}
_JOB_ANSWER = {
    "type": "object",
    "required": ["job"],
    "properties": {"job": {"$ref": "#/components/schemas/Job"}},
}
_JOB = {
    "type": "object",
    "required": ["id", "tool", "status"],
    "properties": {
        "id": {"type": "string"},
        "tool": {"type": "string"},
        "status": {"type": "string", "enum": _JOB_STATUSES},
        "attempts": {"type": "integer"},
        "created_at": {"type": ["string", "null"]},
        "started_at": {"type": ["string", "null"]},
        "finished_at": {"type": ["string", "null"]},
        "expires_at": {"type": ["string", "null"]},
        "progress": {"type": "object"},
        "result": {},
        "meta": {"type": "object"},
        "problem": PROBLEM_REF,
    },
}
