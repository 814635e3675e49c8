"""The configuration of the MCP resources and prompts tests: declared content, an upstream MCP
server's, and who may read what."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.content_upstream import SECRET
from tests.helpers.gateway import ENV as BASE_ENV
from tests.helpers.gateway import write_config

ENV = {**BASE_ENV, "TEST_SECRET_UPSTREAM": SECRET}
MANY = 130  # declared resources beyond the page size, for pagination

POLICIES = """\
policies: |
  @id("reader-reads")
  permit(principal in Role::"reader", action in [Action::"read_resource", Action::"get_prompt"], resource);
  @id("internal-is-for-writers")
  forbid(principal, action == Action::"read_resource", resource == Resource::"internal_notes")
  unless { principal in Role::"writer" };
  @id("writer-reads-internal")
  permit(principal in Role::"writer", action == Action::"read_resource", resource == Resource::"internal_notes");
"""


def content_config(directory: Path, upstream_url: str, *, audit: bool = False, many: bool = False) -> Path:
    (directory / "guide.md").write_text("# Guide\nAsk before you act.\n")
    generated = "".join(
        f'  bulk_{n:03}: {{uri: "pasarela://bulk/{n:03}", text: "item {n}"}}\n' for n in range(MANY)
    )
    backend = f"""\
  up:
    mcp: {upstream_url}
    auth: {{bearer: "${{secret:UPSTREAM}}"}}
    prefix: up_
"""
    extra = f"""\
state: sqlite:///{directory / "state.db"}
audit: {{enabled: {"true" if audit else "false"}, flush_interval: 50ms}}
resources:
  faq:
    uri: pasarela://docs/faq
    description: Frequently asked questions
    text: "Opening hours: 9-17. Never share {SECRET}."
  guide:
    uri: pasarela://docs/guide
    mime_type: text/markdown
    file: guide.md
  internal_notes:
    uri: pasarela://docs/internal
    text: "For writers only"
  greeting_of:
    uri_template: pasarela://greetings/{{name}}
    description: A greeting for someone
    tool: {{name: greet}}
    variables:
      name: {{examples: [Ada, Alan, Grace]}}
{generated if many else ""}prompts:
  summarize:
    description: Summarize a customer
    arguments:
      customer_id: {{required: true, examples: ["12345", "12399", "777"]}}
      tone: {{enum: [formal, friendly]}}
    messages:
      - text: "Summarize customer {{customer_id}} in a {{tone}} tone. Keep {{braces}} as they are."
      - role: assistant
        file: guide.md
{POLICIES}"""
    return write_config(directory, "http://127.0.0.1:9", backends=backend, extra=extra)
