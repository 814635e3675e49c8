"""KPIs from durable data: the audit trail, so restarts and replicas are all counted.

Per backend and per tool: availability, error rate, latency percentiles and cache hit rate.
Per agent: tool-call success rate, end-to-end latency, tools per MCP session, and tools per
conversation (where the client says which: `X-Conversation-Id`, `_meta.conversationId`). What
counts:

- availability = ok / (ok + server errors): of the calls the gateway had to answer, how many it
  did; a refusal the caller caused (4xx: denied, invalid arguments, limits) is neither.
- error rate = server errors (a 5xx problem) / all calls.
- success rate (agents) = ok / all the calls the agent made itself (not those made on its behalf).
- cache hit rate = hits / lookups (hit, miss or stale) for cached tools.

`compute_kpis` is the one computation, for `pasarela kpis` and anything else that shows them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from pasarela.errors import PasarelaError
from pasarela.state import StateStore
from pasarela.state.tables import audit_records

UNRECORDED = "-"  # records older than schema 0003, and calls refused before a tool was found
NOT_CALLS = frozenset({"console"})  # doors whose records are operators' actions (console/trail.py)
LOOKUPS = frozenset({"hit", "miss", "stale"})


def problem_statuses() -> dict[str, int]:
    """Every problem code the gateway can answer with, and its HTTP status."""
    found: dict[str, int] = {}
    pending: list[type[PasarelaError]] = [PasarelaError]
    while pending:
        kind = pending.pop()
        found.setdefault(kind.code, kind.status)
        pending.extend(kind.__subclasses__())
    return found


STATUSES = problem_statuses()


def server_error(outcome: str) -> bool:
    """A failure of the gateway or a backend (5xx); unknown codes count as such."""
    if outcome == "ok":
        return False
    if outcome == "cancelled":  # the agent went away
        return False
    return STATUSES.get(outcome, 500) >= 500


def percentile(ordered: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile of sorted values (None when there are none)."""
    if not ordered:
        return None
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Tally:
    calls: int = 0
    ok: int = 0
    server_errors: int = 0
    cache_hits: int = 0
    cache_lookups: int = 0
    latencies: list[float] = field(default_factory=list)

    def add(self, outcome: str, latency_ms: float, cache: str | None) -> None:
        self.calls += 1
        if outcome == "ok":
            self.ok += 1
        elif server_error(outcome):
            self.server_errors += 1
        if cache in LOOKUPS:
            self.cache_lookups += 1
            self.cache_hits += cache == "hit"
        self.latencies.append(latency_ms)

    def figures(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        answered = self.ok + self.server_errors
        return {
            "calls": self.calls,
            "ok": self.ok,
            "client_errors": self.calls - self.ok - self.server_errors,
            "server_errors": self.server_errors,
            "availability": _ratio(self.ok, answered),
            "error_rate": _ratio(self.server_errors, self.calls),
            "success_rate": _ratio(self.ok, self.calls),
            "cache_hit_rate": _ratio(self.cache_hits, self.cache_lookups),
            "latency_ms": {
                "p50": percentile(ordered, 0.50),
                "p95": percentile(ordered, 0.95),
                "p99": percentile(ordered, 0.99),
            },
        }


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


@dataclass
class _Agent:
    tally: Tally = field(default_factory=Tally)
    sessions: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    conversations: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def figures(self) -> dict[str, Any]:
        shown = self.tally.figures()
        shown["mcp_sessions"] = len(self.sessions)
        shown.update(_per("session", self.sessions))
        shown["conversations"] = len(self.conversations)
        shown.update(_per("conversation", self.conversations))
        return shown


def _per(unit: str, groups: dict[str, list[str]]) -> dict[str, float | None]:
    """Tool calls and distinct tools per session or conversation, on average."""
    calls = [len(tools) for tools in groups.values()]
    distinct = [len(set(tools)) for tools in groups.values()]
    return {
        f"tool_calls_per_{unit}": round(sum(calls) / len(calls), 3) if calls else None,
        f"distinct_tools_per_{unit}": round(sum(distinct) / len(distinct), 3) if distinct else None,
    }


@dataclass(frozen=True)
class KpiReport:
    since: float
    until: float | None
    records: int
    backends: dict[str, dict[str, Any]]
    tools: dict[str, dict[str, Any]]  # by tool name, each with its backend
    agents: dict[str, dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "records": self.records,
            "backends": self.backends,
            "tools": self.tools,
            "agents": self.agents,
        }


def summarize(rows: Iterable[Any], since: float, until: float | None) -> KpiReport:
    """KPIs from audit rows (with at least the columns `compute_kpis` selects)."""
    backends: dict[str, Tally] = defaultdict(Tally)
    tools: dict[tuple[str, str], Tally] = defaultdict(Tally)
    agents: dict[str, _Agent] = defaultdict(_Agent)
    count = 0
    for row in rows:
        if row.door in NOT_CALLS:
            continue
        count += 1
        backend = row.backend or UNRECORDED
        if row.backend is not None:
            backends[backend].add(row.outcome, row.latency_ms, row.cache)
            tools[(row.tool, backend)].add(row.outcome, row.latency_ms, row.cache)
        if row.parent_id is None:  # the agent's own call, end to end
            agent = agents[row.principal]
            agent.tally.add(row.outcome, row.latency_ms, row.cache)
            if row.session is not None and row.door == "mcp":
                agent.sessions[row.session].append(row.tool)
            if row.conversation is not None:
                agent.conversations[row.conversation].append(row.tool)
    return KpiReport(
        since,
        until,
        count,
        {name: tally.figures() for name, tally in sorted(backends.items())},
        {tool: {"backend": backend, **tally.figures()} for (tool, backend), tally in sorted(tools.items())},
        {name: agent.figures() for name, agent in sorted(agents.items())},
    )


async def compute_kpis(store: StateStore, since: float, until: float | None = None) -> KpiReport:
    """The KPIs of the calls audited from `since` (until `until`), read in one pass."""
    columns = audit_records.c
    query = select(
        columns.principal,
        columns.tool,
        columns.backend,
        columns.outcome,
        columns.latency_ms,
        columns.cache,
        columns.parent_id,
        columns.session,
        columns.conversation,
        columns.door,
    ).where(columns.at >= since)
    if until is not None:
        query = query.where(columns.at < until)
    rows: list[Any] = []
    async with store.engine.connect() as db:
        async for row in await db.stream(query.execution_options(yield_per=5000)):
            rows.append(row)
    return summarize(rows, since, until)
