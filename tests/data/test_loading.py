"""Validation at the boundary: each rule broken gives one message naming file, column, row."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from log_builders import make_log_rows, rows_to_table

from offline_rl.data.loading import load_actions, load_logs, validate_logs
from offline_rl.data.summary import summarize_logs
from offline_rl.errors import SchemaError
from offline_rl.schema import LOG_SCHEMA


def _write(tmp_path, rows, name="logs.parquet", schema=None):
    path = tmp_path / name
    table = pa.table(rows, schema=schema) if schema is not None else rows_to_table(rows)
    pq.write_table(table, path)
    return path


def test_valid_logs_load_in_canonical_types(log_file):
    frame = load_logs(log_file)
    assert frame.height == 12
    assert frame.columns == [field.name for field in LOG_SCHEMA]
    assert frame.schema["ts"] == pl.Datetime("us", "UTC")
    assert frame.schema["context"] == pl.List(pl.Float32)
    summary = summarize_logs(frame)
    assert (summary.rows, summary.users, summary.actions) == (12, 3, 4)
    assert summary.signals == {"click": 3, "dislike": 3, "like": 3, "none": 3}
    assert validate_logs(log_file) == summary  # the streaming path counts the same


def _set(column, row, value):
    def mutate(rows):
        rows[column][row] = value
    return mutate


def _drop(column):
    def mutate(rows):
        del rows[column]
    return mutate


BAD_INPUTS = [
    ("missing column", _drop("propensity"), r"missing column 'propensity'"),
    ("propensity above 1", _set("propensity", 3, 1.5), r"column 'propensity', row 3 \(event_id=103\): value 1.5 .*propensity in \(0, 1\]"),
    ("propensity zero", _set("propensity", 4, 0.0), r"column 'propensity', row 4 .*propensity in \(0, 1\]"),
    ("propensity NaN", _set("propensity", 5, float("nan")), r"column 'propensity', row 5 .*value nan"),
    ("action outside candidates", _set("action", 6, 9), r"column 'action', row 6 .*'9 not in 0, 1, 2, 3'.*action in candidate_actions"),
    ("probabilities not summing to 1", _set("action_probs", 2, [0.5, 0.25, 0.25, 0.25]), r"column 'action_probs', row 2 .*sums to 1"),
    ("probabilities of wrong length", _set("action_probs", 1, [0.5, 0.5]), r"column 'action_probs', row 1 .*one probability per candidate"),
    ("propensity disagreeing with action_probs", _set("propensity", 7, 0.3), r"column 'propensity', row 7 .*equals action_probs"),
    ("duplicate event id", _set("event_id", 9, 100), r"column 'event_id', row 9 \(event_id=100\).*event_id is unique"),
    ("unknown feedback signal", _set("feedback", 8, "meh"), r"column 'feedback', row 8 .*'meh'.*declared vocabulary"),
    ("duplicate candidate", _set("candidate_actions", 2, [0, 0, 1, 2]), r"column 'candidate_actions', row 2 .*non-empty set"),
    ("ragged context", _set("context", 10, [1.0]), r"column 'context', row 10 .*same length"),
]


@pytest.mark.parametrize(("case", "mutate", "message"), BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_rejected_with_one_clear_message(tmp_path, case, mutate, message):
    rows = make_log_rows()
    mutate(rows)
    path = _write(tmp_path, rows)
    with pytest.raises(SchemaError, match=message) as raised:
        load_logs(path)
    assert str(path) in str(raised.value)


def test_wrong_dtype_is_rejected(tmp_path):
    rows = make_log_rows()
    rows["action"] = [str(value) for value in rows["action"]]
    fields = [pa.field(f.name, pa.string()) if f.name == "action" else f for f in LOG_SCHEMA]
    path = _write(tmp_path, rows, schema=pa.schema(fields))
    with pytest.raises(SchemaError, match=r"column 'action' has dtype String; expected int64"):
        load_logs(path)


def test_empty_input_is_rejected(tmp_path):
    path = _write(tmp_path, {name: [] for name in make_log_rows()}, schema=LOG_SCHEMA)
    with pytest.raises(SchemaError, match="empty input"):
        load_logs(path)
    with pytest.raises(SchemaError, match="empty input"):
        load_logs(str(tmp_path / "nothing-*.parquet"))


def test_unparseable_timestamp_names_its_row(tmp_path):
    rows = make_log_rows(4)
    frame = pl.DataFrame({**rows, "ts": ["2026-11-01T08:00:00Z", "2026-11-01T08:05:00Z", "yesterday", "2026-11-01T08:15:00Z"]})
    path = tmp_path / "logs.parquet"
    frame.write_parquet(path)
    with pytest.raises(SchemaError, match=r"column 'ts', row 2 \(event_id=102\): value 'yesterday'.*parses as a timestamp"):
        load_logs(path)


def test_vocabulary_declared_in_metadata_is_used(tmp_path):
    rows = make_log_rows(6)
    rows["feedback"] = ["word_1", "word_2"] * 3
    path = tmp_path / "logs.parquet"
    pq.write_table(rows_to_table(rows, vocabulary=["word_1", "word_2"]), path)
    assert load_logs(path).height == 6
    with pytest.raises(SchemaError, match="declared vocabulary"):
        load_logs(path, vocabulary=["word_1"])


def test_hive_partitioned_folder_and_glob(tmp_path):
    for day, offset in (("2026-11-01", 0), ("2026-11-02", 100)):
        rows = make_log_rows(5, seed=offset)
        rows["event_id"] = [value + offset for value in rows["event_id"]]
        folder = tmp_path / f"date={day}"
        folder.mkdir()
        pq.write_table(rows_to_table(rows), folder / "part-0.parquet")
    assert load_logs(tmp_path).height == 10
    assert load_logs(str(tmp_path / "date=*" / "*.parquet")).height == 10


def test_duplicate_event_id_across_files_is_rejected(tmp_path):
    for day in ("2026-11-01", "2026-11-02"):
        folder = tmp_path / f"date={day}"
        folder.mkdir()
        pq.write_table(rows_to_table(make_log_rows(3)), folder / "part-0.parquet")
    with pytest.raises(SchemaError, match=r"date=2026-11-02/part-0.parquet: column 'event_id'.*unique"):
        load_logs(tmp_path)


def _csv_text(rows) -> str:
    lines = ["event_id,ts,user_id,context,candidate_actions,action,propensity,feedback"]
    for i in range(len(rows["event_id"])):
        lines.append(
            f'{rows["event_id"][i]},{rows["ts"][i].isoformat()},{rows["user_id"][i]},'
            f'"{json.dumps(rows["context"][i])}","{json.dumps(rows["candidate_actions"][i])}",'
            f'{rows["action"][i]},{rows["propensity"][i]},{rows["feedback"][i]}'
        )
    return "\n".join(lines) + "\n"


def test_csv_and_gzipped_csv_load(tmp_path):
    rows = make_log_rows(6)
    (tmp_path / "logs.csv").write_text(_csv_text(rows))
    with gzip.open(tmp_path / "logs2.csv.gz", "wt") as handle:
        handle.write(_csv_text(rows))
    plain = load_logs(tmp_path / "logs.csv")
    zipped = load_logs(tmp_path / "logs2.csv.gz")
    assert plain.equals(zipped)
    assert plain["ts"][0] == dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)
    assert plain["candidate_actions"][0].to_list() == [0, 1, 2, 3]


def test_csv_with_broken_list_cell_names_row(tmp_path):
    text = _csv_text(make_log_rows(4)).replace('"[0, 1, 2, 3]"', '"[0, 1, oops]"', 1)
    (tmp_path / "logs.csv").write_text(text)
    with pytest.raises(SchemaError, match=r"column 'candidate_actions', row 0: value '\[0, 1, oops\]' is not a JSON array"):
        load_logs(tmp_path / "logs.csv")


def test_actions_table(tmp_path):
    path = tmp_path / "actions.parquet"
    pq.write_table(pa.table({"action_id": [1, 2], "features": [[0.1, 0.2], [0.3, 0.4]]}), path)
    assert load_actions(path).height == 2
    pq.write_table(pa.table({"action_id": [1, 1], "features": [[0.1], [0.3]]}), path)
    with pytest.raises(SchemaError, match="action_id is unique"):
        load_actions(path)
