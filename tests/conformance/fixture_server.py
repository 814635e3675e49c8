"""The MCP conformance suite's fixtures, served by a real MCP server (the official SDK's low-level
`Server`) that the gateway federates with an empty prefix, so that the suite finds its tools,
resources and prompts *through* Pasarela under the names it expects.

The suite ships no fixture server, and `@modelcontextprotocol/server-everything` does not have
these names; each fixture here answers as the scenario's description in the suite asks
(`conformance list --server`, and each scenario's requirements). Run over stdio:
`python -m tests.conformance.fixture_server`; `app()` is its Streamable HTTP app.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server

# A 1x1 red PNG and a 1-sample WAV: the smallest real files of their kinds.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
        "0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082"
    )
).decode()
WAV = base64.b64encode(
    b"RIFF"
    + (38).to_bytes(4, "little")
    + b"WAVEfmt "
    + (16).to_bytes(4, "little")
    + (1).to_bytes(2, "little")
    + (1).to_bytes(2, "little")
    + (8000).to_bytes(4, "little")
    + (16000).to_bytes(4, "little")
    + (2).to_bytes(2, "little")
    + (16).to_bytes(2, "little")
    + b"data"
    + (2).to_bytes(4, "little")
    + b"\x00\x00"
).decode()
SCHEMA_2020_12 = "https://json-schema.org/draft/2020-12/schema"
NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}}


def _tool(name: str, description: str, schema: dict[str, Any] | None = None) -> types.Tool:
    return types.Tool(name=name, description=description, input_schema=schema or NO_ARGUMENTS)


def _string_arguments(*names: str) -> dict[str, Any]:
    return {"type": "object", "properties": {n: {"type": "string"} for n in names}, "required": list(names)}


TOOLS = [
    _tool("test_simple_text", "Returns simple text"),
    _tool("test_image_content", "Returns an image"),
    _tool("test_audio_content", "Returns audio"),
    _tool("test_embedded_resource", "Returns an embedded resource"),
    _tool("test_multiple_content_types", "Returns text, an image and a resource"),
    _tool("test_tool_with_logging", "Logs three messages while it runs"),
    _tool("test_tool_with_progress", "Reports progress 0, 50 and 100 of 100"),
    _tool("test_error_handling", "Always fails"),
    _tool("test_reconnection", "Takes a moment, so a client's stream may drop and resume meanwhile"),
    _tool("test_sampling", "Asks the client's model", _string_arguments("prompt")),
    _tool("test_elicitation", "Asks the user", _string_arguments("message")),
    _tool("test_elicitation_sep1034_defaults", "Asks the user, with defaults"),
    _tool("test_elicitation_sep1330_enums", "Asks the user to choose, five kinds of enum"),
    _tool(
        "json_schema_2020_12_tool",
        "Tool with JSON Schema 2020-12 features",
        {
            "$schema": SCHEMA_2020_12,
            "type": "object",
            "$defs": {
                "address": {
                    "type": "object",
                    "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
                }
            },
            "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
            "additionalProperties": False,
        },
    ),
]


def _text(text: str) -> types.TextContent:
    return types.TextContent(type="text", text=text)


async def list_tools(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    return types.ListToolsResult(tools=TOOLS)


async def call_tool(
    ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
) -> types.CallToolResult:
    name, arguments = params.name, params.arguments or {}
    content: list[types.ContentBlock]
    if name == "test_simple_text":
        content = [_text("This is a simple text response for testing.")]
    elif name == "test_image_content":
        content = [types.ImageContent(type="image", data=PNG, mime_type="image/png")]
    elif name == "test_audio_content":
        content = [types.AudioContent(type="audio", data=WAV, mime_type="audio/wav")]
    elif name == "test_embedded_resource":
        content = [
            _embedded("test://embedded-resource", "text/plain", "This is an embedded resource content.")
        ]
    elif name == "test_multiple_content_types":
        content = [
            _text("Multiple content types test:"),
            types.ImageContent(type="image", data=PNG, mime_type="image/png"),
            _embedded("test://mixed-content-resource", "application/json", '{"test":"data","value":123}'),
        ]
    elif name == "test_tool_with_logging":
        for message in ("Tool execution started", "Tool processing data", "Tool execution completed"):
            await ctx.session.send_log_message("info", message, related_request_id=ctx.request_id)
            await anyio.sleep(0.05)
        content = [_text("Tool with logging executed successfully")]
    elif name == "test_tool_with_progress":
        token = ctx.meta.get("progress_token") if ctx.meta else None
        for progress in (0, 50, 100):
            if token is not None:
                await ctx.session.send_progress_notification(
                    token, progress, 100, related_request_id=str(ctx.request_id)
                )
            await anyio.sleep(0.05)
        content = [_text("Tool with progress executed successfully")]
    elif name == "test_reconnection":
        # Over stdio this server has no stream to close; the gateway's own stream to the agent
        # is the one the scenario watches (priming event, retry field, the answer).
        await anyio.sleep(0.2)
        content = [_text("Reconnection test completed")]
    elif name == "test_error_handling":
        return types.CallToolResult(
            content=[_text("This tool intentionally returns an error for testing")], is_error=True
        )
    elif name == "test_sampling":
        answer = await ctx.session.create_message(
            [types.SamplingMessage(role="user", content=_text(str(arguments.get("prompt", ""))))],
            max_tokens=100,
            related_request_id=ctx.request_id,
        )
        said = answer.content.text if isinstance(answer.content, types.TextContent) else str(answer.content)
        content = [_text(f"LLM response: {said}")]
    elif name in ELICITATIONS:
        message, schema, prefix = ELICITATIONS[name]
        asked = await ctx.session.elicit_form(
            str(arguments.get("message", message)), schema, related_request_id=ctx.request_id
        )
        content = [_text(f"{prefix}action={asked.action}, content={json.dumps(asked.content or {})}")]
    else:
        return types.CallToolResult(content=[_text(f"no tool {name}")], is_error=True)
    return types.CallToolResult(content=content)


def _embedded(uri: str, mime_type: str, text: str) -> types.EmbeddedResource:
    return types.EmbeddedResource(
        type="resource", resource=types.TextResourceContents(uri=uri, mime_type=mime_type, text=text)
    )


def _choices(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"const": value, "title": title} for value, title in pairs]


ELICITATIONS: dict[str, tuple[str, dict[str, Any], str]] = {
    "test_elicitation": (
        "",
        {
            "type": "object",
            "properties": {
                "username": {"type": "string", "description": "User's response"},
                "email": {"type": "string", "description": "User's email address"},
            },
            "required": ["username", "email"],
        },
        "User response: ",
    ),
    "test_elicitation_sep1034_defaults": (
        "Please review and update the form fields with defaults",
        {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "User name", "default": "John Doe"},
                "age": {"type": "integer", "description": "User age", "default": 30},
                "score": {"type": "number", "description": "User score", "default": 95.5},
                "status": {
                    "type": "string",
                    "description": "User status",
                    "enum": ["active", "inactive", "pending"],
                    "default": "active",
                },
                "verified": {"type": "boolean", "description": "Verification status", "default": True},
            },
        },
        "Elicitation completed: ",
    ),
    "test_elicitation_sep1330_enums": (
        "Please select options from the enum fields",
        {
            "type": "object",
            "properties": {
                "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
                "titledSingle": {
                    "type": "string",
                    "oneOf": _choices(
                        ("value1", "First Option"), ("value2", "Second Option"), ("value3", "Third Option")
                    ),
                },
                "legacyEnum": {
                    "type": "string",
                    "enum": ["opt1", "opt2", "opt3"],
                    "enumNames": ["Option One", "Option Two", "Option Three"],
                },
                "untitledMulti": {
                    "type": "array",
                    "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
                },
                "titledMulti": {
                    "type": "array",
                    "items": {
                        "anyOf": _choices(
                            ("value1", "First Choice"),
                            ("value2", "Second Choice"),
                            ("value3", "Third Choice"),
                        )
                    },
                },
            },
        },
        "Elicitation completed: ",
    ),
}

RESOURCES = [
    types.Resource(
        uri="test://static-text",
        name="static-text",
        description="A static text resource",
        mime_type="text/plain",
    ),
    types.Resource(
        uri="test://static-binary",
        name="static-binary",
        description="A static binary resource",
        mime_type="image/png",
    ),
    types.Resource(
        uri="test://watched-resource",
        name="watched-resource",
        description="A resource to subscribe to",
        mime_type="text/plain",
    ),
]
TEMPLATES = [
    types.ResourceTemplate(
        uri_template="test://template/{id}/data",
        name="template",
        description="A resource template with an id",
        mime_type="application/json",
    )
]


async def list_resources(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListResourcesResult:
    return types.ListResourcesResult(resources=RESOURCES)


async def list_templates(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListResourceTemplatesResult:
    return types.ListResourceTemplatesResult(resource_templates=TEMPLATES)


async def read_resource(
    ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
) -> types.ReadResourceResult:
    uri = str(params.uri)
    contents: types.TextResourceContents | types.BlobResourceContents
    if uri == "test://static-text":
        contents = types.TextResourceContents(
            uri=uri, mime_type="text/plain", text="This is the content of the static text resource."
        )
    elif uri == "test://static-binary":
        contents = types.BlobResourceContents(uri=uri, mime_type="image/png", blob=PNG)
    elif uri == "test://watched-resource":
        contents = types.TextResourceContents(
            uri=uri, mime_type="text/plain", text="Watched resource content"
        )
    elif uri.startswith("test://template/") and uri.endswith("/data"):
        found = uri.removeprefix("test://template/").removesuffix("/data")
        body = json.dumps(
            {"id": found, "templateTest": True, "data": f"Data for ID: {found}"}, separators=(",", ":")
        )
        contents = types.TextResourceContents(uri=uri, mime_type="application/json", text=body)
    else:
        from mcp.shared.exceptions import MCPError

        raise MCPError(types.INVALID_PARAMS, f"no resource {uri}")
    return types.ReadResourceResult(contents=[contents])


async def subscribe(
    ctx: ServerRequestContext[Any], params: types.SubscribeRequestParams
) -> types.EmptyResult:
    return types.EmptyResult()


async def unsubscribe(
    ctx: ServerRequestContext[Any], params: types.UnsubscribeRequestParams
) -> types.EmptyResult:
    return types.EmptyResult()


PROMPTS = [
    types.Prompt(name="test_simple_prompt", description="A simple prompt without arguments"),
    types.Prompt(
        name="test_prompt_with_arguments",
        description="A prompt with two arguments",
        arguments=[
            types.PromptArgument(name="arg1", description="First test argument", required=True),
            types.PromptArgument(name="arg2", description="Second test argument", required=True),
        ],
    ),
    types.Prompt(
        name="test_prompt_with_embedded_resource",
        description="A prompt that embeds a resource",
        arguments=[
            types.PromptArgument(
                name="resourceUri", description="URI of the resource to embed", required=True
            )
        ],
    ),
    types.Prompt(name="test_prompt_with_image", description="A prompt with an image"),
]


async def list_prompts(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListPromptsResult:
    return types.ListPromptsResult(prompts=PROMPTS)


async def get_prompt(
    ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
) -> types.GetPromptResult:
    arguments = params.arguments or {}
    user = "user"
    if params.name == "test_simple_prompt":
        messages = [types.PromptMessage(role=user, content=_text("This is a simple prompt for testing."))]
    elif params.name == "test_prompt_with_arguments":
        text = (
            f"Prompt with arguments: arg1='{arguments.get('arg1', '')}', arg2='{arguments.get('arg2', '')}'"
        )
        messages = [types.PromptMessage(role=user, content=_text(text))]
    elif params.name == "test_prompt_with_embedded_resource":
        uri = arguments.get("resourceUri", "test://example-resource")
        messages = [
            types.PromptMessage(
                role=user, content=_embedded(uri, "text/plain", "Embedded resource content for testing.")
            ),
            types.PromptMessage(role=user, content=_text("Please process the embedded resource above.")),
        ]
    elif params.name == "test_prompt_with_image":
        messages = [
            types.PromptMessage(
                role=user, content=types.ImageContent(type="image", data=PNG, mime_type="image/png")
            ),
            types.PromptMessage(role=user, content=_text("Please analyze the image above.")),
        ]
    else:
        from mcp.shared.exceptions import MCPError

        raise MCPError(types.INVALID_PARAMS, f"no prompt {params.name}")
    return types.GetPromptResult(messages=messages)


async def complete(
    ctx: ServerRequestContext[Any], params: types.CompleteRequestParams
) -> types.CompleteResult:
    typed = params.argument.value
    values = [v for v in ("paris", "park", "party") if v.startswith(typed)]
    return types.CompleteResult(completion=types.Completion(values=values, total=len(values), has_more=False))


async def set_level(ctx: ServerRequestContext[Any], params: types.SetLevelRequestParams) -> types.EmptyResult:
    return types.EmptyResult()


server: Server[Any] = Server(
    "conformance-fixtures",
    version="1.0.0",
    on_list_tools=list_tools,
    on_call_tool=call_tool,
    on_list_resources=list_resources,
    on_list_resource_templates=list_templates,
    on_read_resource=read_resource,
    on_subscribe_resource=subscribe,
    on_unsubscribe_resource=unsubscribe,
    on_list_prompts=list_prompts,
    on_get_prompt=get_prompt,
    on_completion=complete,
    on_set_logging_level=set_level,
)


def main() -> None:
    from mcp.server.stdio import stdio_server

    async def serve() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(serve)


if __name__ == "__main__":
    main()
