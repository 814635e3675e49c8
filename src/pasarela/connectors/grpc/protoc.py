""".proto files → file descriptors, with protoc from grpcio-tools.

protoc runs as a child process (`python -m grpc_tools.protoc`, which adds the well-known types'
include path itself): its diagnostics go to its own stderr, where they can be read and turned
into problems naming the file and line, and a crash of the compiler cannot take the gateway
with it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
from google.protobuf import descriptor_pb2

from pasarela.connectors.grpc.descriptors import DescriptorError, read_descriptor_set

COMPILE_TIMEOUT = 120.0
MAX_DIAGNOSTICS = 10
# `file.proto:12:5: message` (protoc's own form).
_DIAGNOSTIC = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<column>\d+): (?P<message>.+)$")


@dataclass(frozen=True, slots=True)
class ProtoProblem:
    """One thing protoc refused: the file (as given to us, when we can tell) and the line."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line is not None else self.message


class ProtocFailed(DescriptorError):
    def __init__(self, problems: Sequence[ProtoProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in problems))


async def compile_protos(
    files: Sequence[Path], include_paths: Sequence[Path]
) -> list[descriptor_pb2.FileDescriptorProto]:
    """The descriptors of `files` and everything they import, comments included."""
    includes = list(dict.fromkeys([*include_paths, *(f.parent for f in files)]))
    with tempfile.TemporaryDirectory(prefix="pasarela-protoc-") as scratch:
        output = Path(scratch) / "descriptors.binpb"
        command = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            *(f"--proto_path={path}" for path in includes),
            "--include_imports",
            "--include_source_info",
            f"--descriptor_set_out={output}",
            *(str(f) for f in files),
        ]
        try:
            with anyio.fail_after(COMPILE_TIMEOUT):
                result = await anyio.run_process(command, check=False, stdin=subprocess.DEVNULL)
        except TimeoutError:
            raise DescriptorError(f"protoc did not finish within {COMPILE_TIMEOUT:g}s") from None
        if result.returncode != 0:
            raise ProtocFailed(_diagnostics(result.stderr.decode(errors="replace"), includes))
        return read_descriptor_set(output)


def _diagnostics(stderr: str, includes: Sequence[Path]) -> list[ProtoProblem]:
    problems: list[ProtoProblem] = []
    for raw in stderr.splitlines():
        text = raw.strip()
        if not text:
            continue
        match = _DIAGNOSTIC.match(text)
        if match is None:
            problems.append(ProtoProblem("", None, text))
        else:
            file = _real_path(match["file"], includes)
            problems.append(ProtoProblem(file, int(match["line"]), match["message"].strip()))
    if "grpc_tools" in stderr and "No module named" in stderr:
        return [
            ProtoProblem("", None, "compiling .proto files needs grpcio-tools: pip install 'pasarela[grpc]'")
        ]
    return problems[:MAX_DIAGNOSTICS] or [ProtoProblem("", None, "protoc failed without saying why")]


def _real_path(virtual: str, includes: Sequence[Path]) -> str:
    """protoc names files relative to the include path they were found in: name the real file."""
    for include in includes:
        candidate = include / virtual
        if candidate.is_file():
            return str(candidate)
    return virtual
