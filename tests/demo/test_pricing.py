"""The pricing engine's shipped descriptor set is its .proto compiled; without the `grpc` extra
the demo runs without the engine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from google.protobuf import descriptor_pb2

from pasarela.config.loader import load_config_text
from pasarela.demo import optional, runner

SPECS = Path(runner.__file__).with_name("specs")


def test_the_shipped_descriptor_set_is_the_proto_compiled(tmp_path: Path) -> None:
    out = tmp_path / "pricing.binpb"
    subprocess.run(
        [
            sys.executable, "-m", "grpc_tools.protoc", f"--proto_path={SPECS}", "--include_imports",
            "--include_source_info", f"--descriptor_set_out={out}", str(SPECS / "pricing.proto"),
        ],
        check=True,
    )  # fmt: skip

    def pricing(path: Path) -> descriptor_pb2.FileDescriptorProto:
        files = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes()).file
        return next(f for f in files if f.name == "pricing.proto")

    assert pricing(out) == pricing(SPECS / "pricing.binpb"), (
        "regenerate src/pasarela/demo/specs/pricing.binpb: python -m grpc_tools.protoc "
        "-Isrc/pasarela/demo/specs --include_imports --include_source_info "
        "--descriptor_set_out=src/pasarela/demo/specs/pricing.binpb src/pasarela/demo/specs/pricing.proto"
    )


def test_without_grpc_the_demo_configuration_drops_the_pricing_engine() -> None:
    path = runner.config_path()
    text = optional.without(path.read_text(encoding="utf-8"), optional.PRICING)
    environ = {
        "PASARELA_SECRET_DEMO_TRANSACTIONS_DB": "sqlite:///x.db",
        "PASARELA_SECRET_DEMO_WEBHOOK_SECRET": "whsec_" + "a" * 44,
    } | {
        f"PASARELA_SECRET_DEMO_{name}": "x"
        for name in (
            "SUPPORT_BOT_KEY", "SALES_BOT_KEY", "COMPLIANCE_BOT_KEY", "OPS_ADMIN_KEY", "CRM_API_KEY", "TICKETING_TOKEN",
            "CORE_BANKING_PASSWORD", "LOANS_TOKEN", "CREDIT_BUREAU_KEY", "REPORTS_TOKEN", "AUDIT_KEY",
            "PRODUCT_ADVISOR_TOKEN",
        )
    }  # fmt: skip
    loaded = load_config_text(text, source=str(path), base_dir=path.parent, environ=environ)
    settings = loaded.settings
    assert "pricing" not in settings.backends and "get_product_price" not in settings.tools
    assert all("get_product_price" not in tools for tools in settings.access.values())
    assert "crm" in settings.backends and "get_customer_info" in settings.access["sales"]
