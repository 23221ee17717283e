"""Shared fixtures: small canonical logs built by hand."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from log_builders import make_log_rows, rows_to_table


@pytest.fixture
def log_rows() -> dict[str, list]:
    return make_log_rows()


@pytest.fixture
def log_file(tmp_path, log_rows):
    path = tmp_path / "logs.parquet"
    pq.write_table(rows_to_table(log_rows), path)
    return path
