"""Readers and parsers for the raw source exports (CSV/XLSX files, typed values, CPR numbers)."""
