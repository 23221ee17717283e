"""One summary implementation, whole frame or streamed batch by batch."""

from __future__ import annotations

import pyarrow.parquet as pq
from log_builders import make_log_rows, rows_to_table

from offline_rl.data.loading import load_logs, validate_logs
from offline_rl.data.summary import LogSummary, summarize_logs


def test_summary_on_the_engine_equals_the_in_memory_one(tmp_path, engine):
    for day, offset in (("2026-11-01", 0), ("2026-11-02", 100)):
        rows = make_log_rows(12, seed=offset, users=5)
        rows["event_id"] = [value + offset for value in rows["event_id"]]
        rows["user_id"] = [value + offset // 50 for value in rows["user_id"]]
        folder = tmp_path / f"date={day}"
        folder.mkdir()
        pq.write_table(rows_to_table(rows), folder / "part-0.parquet", row_group_size=5)
    summary = validate_logs(tmp_path, engine=engine)
    assert summary == summarize_logs(load_logs(tmp_path), files=2)
    assert (summary.rows, summary.users, summary.files) == (24, 7, 2)


def test_summary_line_shows_at_most_eight_signals():
    signals = {f"s{i}": 10 - i for i in range(10)}
    line = LogSummary(rows=55, users=2, actions=3, signals=signals, files=1).line()
    assert line == (
        "valid: 55 rows, 2 users, 3 actions, 10 signals (s0 10, s1 9, s2 8, s3 7, s4 6, s5 5, s6 4, s7 3, "
        "... 2 more) in 1 file(s)"
    )
