"""Synthetic demo exports for the six sources (see generate.py)."""
