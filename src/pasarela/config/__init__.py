"""The pasarela.yaml model and its loader."""

from pasarela.config.backends import BackendSettings
from pasarela.config.loader import DEFAULT_CONFIG, LoadedConfig, load_config, load_config_text
from pasarela.config.model import Settings, ToolSettings, json_schema

__all__ = [
    "DEFAULT_CONFIG",
    "BackendSettings",
    "LoadedConfig",
    "Settings",
    "ToolSettings",
    "json_schema",
    "load_config",
    "load_config_text",
]
