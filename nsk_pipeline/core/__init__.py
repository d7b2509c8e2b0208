"""Shared plumbing: settings and the warehouse."""
