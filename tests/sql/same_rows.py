"""Row-for-row comparison of two engines' results."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
from polars.testing import assert_frame_equal

#: Floats may differ in the last bits where the engines sum in another order (AVG over a group).
TOLERANCE = 1e-9


def as_frame(result: pa.Table | pl.DataFrame) -> pl.DataFrame:
    return result if isinstance(result, pl.DataFrame) else pl.from_arrow(result)


def assert_same_rows(duckdb_result, spark_result) -> None:
    """Same columns, same dtypes, same rows in the same order; floats to 1e-9 (relative and
    absolute), lists element by element, NULLs where the other has NULLs."""
    left, right = as_frame(duckdb_result), as_frame(spark_result)
    assert left.columns == right.columns
    assert left.schema == right.schema, f"dtypes differ:\n{left.schema}\n{right.schema}"
    assert left.height == right.height
    assert_frame_equal(left, right, check_exact=False, rel_tol=TOLERANCE, abs_tol=TOLERANCE)
