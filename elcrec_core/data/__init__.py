"""Data: sources and their readers, row rules, the DuckDB warehouse, sequences, the synthetic set."""
