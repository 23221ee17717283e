"""Run folders: what a nightly run writes, and read-only SQL over it."""
