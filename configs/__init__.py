"""Shipped configuration: default.yaml, example overlays and data files (not code)."""
