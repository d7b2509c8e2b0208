"""Yearly, quarterly and breakdown indicators computed from the staged sources."""
