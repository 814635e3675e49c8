"""The contract stage: map arguments, reshape results (JMESPath), hold them to their schema.

A tool's `transform` turns whatever its backend speaks into the agreed shape; its `output`
schema is then checked. A result that breaks it is an upstream contract error (502
`upstream_contract`, counted in metrics), never passed on silently. The stage sits inside the
cache and fallback stages, so cached and fallback results are already in shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import jmespath
import jmespath.parser
import structlog
from jmespath.exceptions import JMESPathError

from pasarela.contracts.arguments import ArgumentMap
from pasarela.contracts.registry import Contract
from pasarela.errors import UpstreamContractError
from pasarela.pipeline.call import Call, Next, Outcome
from pasarela.telemetry.metrics import GatewayMetrics

log = structlog.get_logger("pasarela.contracts")


@dataclass(frozen=True, slots=True)
class ToolContract:
    transform: jmespath.parser.ParsedResult | None
    output: Contract | None
    arguments: ArgumentMap | None = None


class ContractStage:
    name = "contract"

    def __init__(self, contracts: Mapping[str, ToolContract], metrics: GatewayMetrics) -> None:
        self._contracts = dict(contracts)
        self._metrics = metrics

    def traced(self, call: Call) -> bool:
        return call.tool.name in self._contracts

    async def __call__(self, call: Call, call_next: Next) -> Outcome:
        contract = self._contracts.get(call.tool.name)
        if contract is None:
            return await call_next(call)
        if contract.arguments is not None:
            call = replace(call, arguments=contract.arguments.apply(call.arguments))
        outcome = await call_next(call)
        result = outcome.result
        if contract.transform is not None:
            try:
                result = contract.transform.search(result)
            except JMESPathError as exc:  # e.g. a function given a value of another type
                raise UpstreamContractError(
                    f"{call.tool.backend} answered {call.tool.name} in a shape its transform cannot read: {exc}",
                    backend=call.tool.backend,
                ) from None
        if contract.output is not None:
            problems = contract.output.problems(result)
            if problems:
                self._metrics.contract_violations.labels(
                    call.tool.backend, call.tool.name, contract.output.name
                ).inc()
                log.warning(
                    "contract_violation",
                    tool=call.tool.name,
                    schema=contract.output.name,
                    problems=[f"{p.path}: {p.message}" for p in problems],
                )
                raise UpstreamContractError(
                    f"{call.tool.backend} answered {call.tool.name} in a shape that breaks {contract.output.name}",
                    backend=call.tool.backend,
                    schema=contract.output.name,
                    errors=[{"path": p.path, "message": p.message} for p in problems],
                )
            return replace(outcome, result=result, meta={**outcome.meta, "schema": contract.output.name})
        return replace(outcome, result=result)
