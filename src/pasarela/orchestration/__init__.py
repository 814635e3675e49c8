"""Composite tools: plans of steps, each an ordinary call through the whole pipeline."""
