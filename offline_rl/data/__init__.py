"""Data layer: loading, validation, SQL jobs, simulators. Never imports torch."""
