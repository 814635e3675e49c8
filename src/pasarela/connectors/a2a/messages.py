"""Arguments → the A2A message sent; the agent's message, task and artifacts → the tool's answer."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.json_format import MessageToDict, ParseDict

from a2a.types import Artifact, Message, Part, Role, SendMessageRequest, Task

# A retried call with the same idempotency key sends the same message id, so an agent that
# de-duplicates by message id applies it once.
MESSAGE_IDS = uuid.UUID("0e7a2b4c-5d1f-4c8e-9a3b-6f2d1c0b9e87")
MAX_SAFE_INTEGER = 2**53


def request_for(
    arguments: Mapping[str, Any], backend: str, idempotency_key: str | None
) -> SendMessageRequest:
    message = Message(role=Role.ROLE_USER, message_id=message_id(backend, idempotency_key))
    if "message" in arguments:
        message.parts.append(Part(text=str(arguments["message"])))
    if arguments.get("data") is not None:
        message.parts.append(
            Part(data=ParseDict(arguments["data"], struct_pb2.Value()), media_type="application/json")
        )
    return SendMessageRequest(message=message)


def message_id(backend: str, idempotency_key: str | None) -> str:
    if idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(MESSAGE_IDS, f"{backend}\0{idempotency_key}"))


def text_of(parts: Iterable[Part]) -> str:
    return "\n\n".join(part.text for part in parts if part.WhichOneof("content") == "text" and part.text)


def parts_view(parts: Iterable[Part]) -> dict[str, Any]:
    parts = list(parts)
    data: list[Any] = []
    files: list[dict[str, str]] = []
    for part in parts:
        kind = part.WhichOneof("content")
        if kind == "data":
            data.append(whole_numbers(MessageToDict(part.data)))
        elif kind in ("url", "raw"):
            file = {"name": part.filename, "media_type": part.media_type}
            if kind == "url":
                file["url"] = part.url
            else:
                file["bytes_base64"] = base64.b64encode(part.raw).decode()
            files.append({k: v for k, v in file.items() if v})
    return {"text": text_of(parts), "data": data, "files": files}


def artifact_view(artifact: Artifact) -> dict[str, Any]:
    view = {"name": artifact.name or artifact.artifact_id, **parts_view(artifact.parts)}
    if artifact.description:
        view["description"] = artifact.description
    return view


def answer_from_message(message: Message) -> dict[str, Any]:
    return {
        **parts_view(message.parts),
        "artifacts": [],
        "task_id": None,
        "context_id": message.context_id or None,
    }


def answer_from_task(task: Task) -> dict[str, Any]:
    """A finished task: its final status message's parts, and its artifacts."""
    return {
        **parts_view(task.status.message.parts),
        "artifacts": [artifact_view(a) for a in task.artifacts],
        "task_id": task.id or None,
        "context_id": task.context_id or None,
    }


def whole_numbers(value: Any) -> Any:
    """JSON from a protobuf `Value` holds every number as a double: `4326` comes back `4326.0`.
    Whole numbers are given back as integers, as the agent most likely wrote them."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_SAFE_INTEGER:
        return int(value)
    if isinstance(value, dict):
        return {key: whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [whole_numbers(item) for item in value]
    return value
