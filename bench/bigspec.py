"""Benchmark: `pasarela tools list` on a big YAML OpenAPI description (~4 MB, ~470 operations).

    .venv/bin/python -m bench.bigspec                   # cold (no cache) and warm, 3 runs each
    .venv/bin/python -m bench.bigspec --no-cache        # warm runs parse again (cache off)
    .venv/bin/python -m bench.bigspec --write big.yaml  # only write the description
    PYTHONPATH=/path/to/older/src .venv/bin/python -m bench.bigspec   # time another version

The description is generated on demand (never committed): the real Twilio descriptions in
tests/fixtures/openapi/twilio (MIT) are merged and repeated under new path prefixes, with
their operationIds and component schemas renamed per copy and every `$ref` rewritten, until
the operation count is reached; then dumped as block-style YAML. So the shapes are real:
form bodies, deeply nested response schemas, `$ref`s, long descriptions, `x-` extensions.

Each run is a separate `pasarela tools list` process timed by wall clock and by CPU (on a
shared machine the CPU time is the steadier figure). Cold runs start
from an empty state directory (no pins, no description cache); warm runs repeat with both
left by the previous run, as a restart or a reload would find them.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import yaml

TWILIO = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "openapi" / "twilio"
SOURCES = ("twilio_api_v2010.json", "twilio_messaging_v1.json")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def _renamed(node: Any, suffix: str) -> Any:
    """A copy of `node` with every component `$ref` pointing at the copy's renamed schema."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/"):
                out[key] = value + suffix
            else:
                out[key] = _renamed(value, suffix)
        return out
    if isinstance(node, list):
        return [_renamed(item, suffix) for item in node]
    return node


def build(operations: int = 470) -> dict[str, Any]:
    """An OpenAPI 3.0 description with exactly `operations` operations."""
    sources = [orjson.loads((TWILIO / name).read_bytes()) for name in SOURCES]
    merged: dict[str, Any] = {
        "openapi": "3.0.1",
        "info": {"title": "Twilio (merged and repeated for benchmarking)", "version": "1.0.0"},
        "servers": [{"url": "https://api.twilio.com"}],
        "paths": {},
        "components": {"schemas": {}, "securitySchemes": sources[0]["components"]["securitySchemes"]},
    }
    count, copy = 0, 0
    while count < operations:
        for n, source in enumerate(sources):
            suffix = f"_c{copy}s{n}"
            for name, schema in source["components"]["schemas"].items():
                merged["components"]["schemas"][name + suffix] = _renamed(schema, suffix)
            for path, raw_item in source["paths"].items():
                if count >= operations:
                    break
                kept = {}
                for key, value in _renamed(raw_item, suffix).items():
                    if key not in METHODS:
                        kept[key] = value
                    elif count < operations:
                        kept[key] = {**value, "operationId": f"{value.get('operationId', key)}{suffix}"}
                        count += 1
                merged["paths"][f"/copy{copy}s{n}{path}"] = kept
        copy += 1
    return merged


def write(path: Path, operations: int = 470) -> int:
    text = yaml.dump(
        build(operations), Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True, width=100
    )
    path.write_text(text)
    return len(text.encode())


def _config(directory: Path, cache: bool) -> Path:
    config = directory / "pasarela.yaml"
    config.write_text(
        "version: 1\n"
        "backends:\n"
        "  twilio: {openapi: big.yaml, base_url: 'http://127.0.0.1:9'}\n"
        # Only written to turn it off, so the script also times versions without the setting
        # (PYTHONPATH=<an older checkout>/src).
        + ("" if cache else "description_cache: false\n")
        + "access: {}\n"
    )
    return config


def _tools_list(config: Path) -> tuple[float, float, int]:
    """Wall-clock and CPU seconds of one `pasarela tools list`, and how many tools it listed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pasarela", "tools", "list", "-c", str(config)],
        capture_output=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"tools list failed: {done.stderr.decode()[-2000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return elapsed, cpu, len(orjson.loads(done.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--operations", type=int, default=470)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write", type=Path, help="only write the description to this file")
    parser.add_argument("--no-cache", action="store_true", help="turn the description cache off")
    args = parser.parse_args()
    if args.write is not None:
        size = write(args.write, args.operations)
        print(f"{args.write}: {size / 1e6:.2f} MB, {args.operations} operations")
        return
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "big.yaml"
        size = write(spec, args.operations)
        print(f"description: {size / 1e6:.2f} MB YAML, {args.operations} operations")
        cold: list[tuple[float, float]] = []
        warm: list[tuple[float, float]] = []
        for _ in range(args.runs):
            run_dir = Path(tmp) / "run"
            shutil.rmtree(run_dir, ignore_errors=True)
            run_dir.mkdir()
            shutil.copy(spec, run_dir / "big.yaml")
            config = _config(run_dir, cache=not args.no_cache)
            *times, tools = _tools_list(config)
            cold.append((times[0], times[1]))
            *times, again = _tools_list(config)
            warm.append((times[0], times[1]))
            assert tools == again == args.operations, (tools, again)
        for label, runs in (("cold (empty state)", cold), ("warm (pins and cache kept)", warm)):
            walls = [wall for wall, _ in runs]
            cpus = [cpu for _, cpu in runs]
            print(
                f"{label:28} wall median {statistics.median(walls):.2f} s "
                f"(min {min(walls):.2f}, max {max(walls):.2f}), "
                f"CPU median {statistics.median(cpus):.2f} s; {len(runs)} runs"
            )


if __name__ == "__main__":
    main()
