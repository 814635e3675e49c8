"""`pasarela composites explain`: a composite's steps, what each waits for, what runs together."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from pasarela.assembly import Runtime
from pasarela.commands.common import ConfigOption, ExitCode, err, load, print_json, quiet_logs, with_runtime
from pasarela.config import DEFAULT_CONFIG
from pasarela.orchestration.plan import CompositePlan

composites_app = typer.Typer(help="Composite tools (composites: in the configuration).", no_args_is_help=True)


def describe(plan: CompositePlan) -> dict[str, Any]:
    waves = plan.waves()
    return {
        "composite": plan.name,
        "timeout_s": plan.timeout,
        "waves": [
            [
                {
                    "step": name,
                    "tools": list(plan.steps[name].tools),
                    "waits_for": sorted(plan.steps[name].needs),
                    "for_each": plan.steps[name].for_each is not None,
                    "max_concurrency": plan.steps[name].max_concurrency
                    if plan.steps[name].for_each
                    else None,
                    "required": plan.steps[name].required,
                }
                for name in wave
            ]
            for wave in waves
        ],
    }


def step_timeline(meta: Any) -> list[str]:
    """A composite call's steps as lines: status, step, tool, time (nothing for other tools)."""
    steps = meta.get("steps") if isinstance(meta, dict) else None
    if not isinstance(steps, list):
        return []
    failed = {e.get("step"): e.get("code") for e in meta.get("errors", []) if isinstance(e, dict)}
    lines = [f"{len(steps)} step(s){', partial' if meta.get('partial') else ''}:"]
    for step in steps:
        why = f" ({failed[step['step']]})" if step.get("step") in failed else ""
        cache = f" cache {step['cache']}" if step.get("cache") else ""
        lines.append(
            f"  {step.get('status', '?'):<8} {step.get('step')} → {step.get('tool') or '-'}"
            f"  {step.get('duration_ms', 0):.1f} ms{cache}{why}"
        )
    return lines


@composites_app.command("explain")
def composites_explain(
    name: Annotated[str, typer.Argument(help="The composite's name.")],
    as_json: Annotated[bool, typer.Option("--json", help="As JSON.")] = False,
    config: ConfigOption = Path(DEFAULT_CONFIG),
) -> None:
    """Print the steps of a composite, what each waits for, and which run at the same time."""
    loaded = load(config)
    quiet_logs(loaded)
    if name not in loaded.settings.composites:
        known = ", ".join(sorted(loaded.settings.composites)) or "none are declared"
        err.print(f"no composite named {name!r} (composites: {known})", markup=False)
        raise typer.Exit(ExitCode.ERROR)

    async def explain(runtime: Runtime) -> dict[str, Any]:
        return describe(runtime.gateway.composite_plan(name))

    report = with_runtime(loaded, explain, read_only=True)
    if as_json:
        print_json(report)
        return
    waves = report["waves"]
    sys.stdout.write(
        f"{name}: {sum(len(w) for w in waves)} step(s) in {len(waves)} wave(s), {report['timeout_s']:g}s in all\n"
    )
    for number, wave in enumerate(waves, start=1):
        together = " — run together" if len(wave) > 1 else ""
        sys.stdout.write(f"  wave {number}{together}:\n")
        for step in wave:
            tools = " | ".join(step["tools"])
            fan = f", for each item ({step['max_concurrency']} at once)" if step["for_each"] else ""
            waits = f"  ← waits for {', '.join(step['waits_for'])}" if step["waits_for"] else ""
            optional = "" if step["required"] else " (optional)"
            sys.stdout.write(f"    {step['step']}: {tools}{fan}{optional}{waits}\n")
