"""Data protection: masking sensitive values in results."""

from pasarela.protection.masking import MaskingRule, PathError, parse_path

__all__ = ["MaskingRule", "PathError", "parse_path"]
