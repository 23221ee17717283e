"""Data layer: loading, validation and the SQL jobs. Never imports torch."""
