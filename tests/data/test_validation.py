"""Every entry point validates: in-memory frames, streamed batches, a prepared ik_training_set."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from log_builders import make_log_rows, rows_to_table
from test_loading import BAD_INPUTS

from offline_rl.cli import main
from offline_rl.data.loading import load_logs, validate_logs
from offline_rl.data.prepare import ik_training_set, prepare, user_trajectories
from offline_rl.data.validation import validate_ik_training_set, validate_log_frame
from offline_rl.errors import SchemaError
from offline_rl.schema import DEFAULT_FEEDBACK_VOCABULARY, LOG_SCHEMA


def _frame(rows) -> pl.DataFrame:
    return pl.from_arrow(rows_to_table(rows))


# ------------------------------------------------------------------------------- casting
def test_accepted_dtypes_are_cast_to_canonical_ones():
    rows = make_log_rows(4)
    frame = pl.DataFrame(
        {
            "event_id": pl.Series(rows["event_id"], dtype=pl.Int32),
            "ts": pl.Series([t.replace(tzinfo=None) for t in rows["ts"]]),  # naive = UTC
            "user_id": pl.Series([f"u{u}" for u in rows["user_id"]]),
            "context": pl.Series(rows["context"], dtype=pl.Array(pl.Float64, 2)),
            "candidate_actions": pl.Series(rows["candidate_actions"], dtype=pl.List(pl.UInt8)),
            "action": pl.Series(rows["action"], dtype=pl.Int16),
            "propensity": pl.Series(rows["propensity"], dtype=pl.Float32),
            "feedback": pl.Series(rows["feedback"], dtype=pl.Categorical),
        }
    )
    typed = validate_log_frame(frame)
    assert typed.schema == pl.Schema(
        {
            "event_id": pl.Int64,
            "ts": pl.Datetime("us", "UTC"),
            "user_id": pl.String,
            "context": pl.List(pl.Float32),
            "candidate_actions": pl.List(pl.Int64),
            "action": pl.Int64,
            "propensity": pl.Float64,
            "feedback": pl.String,
        }
    )
    assert typed["ts"][0] == rows["ts"][0]


@pytest.mark.parametrize(
    ("column", "series", "expected"),
    [
        ("action", pl.Series([1.0, 2.0, 3.0, 0.0]), "column 'action' has dtype Float64; expected int64"),
        ("context", pl.Series([["a"], ["b"], ["c"], ["d"]]), r"column 'context' has dtype List\(String\); expected list<float>"),
        ("ts", pl.Series([1, 2, 3, 4]), r"column 'ts' has dtype Int64; expected timestamp \(or an ISO 8601 string\)"),
        ("feedback", pl.Series([1, 2, 3, 4]), "column 'feedback' has dtype Int64; expected string"),
        ("event_id", pl.Series([1.0, 2.0, 3.0, 4.0]), "column 'event_id' has dtype Float64; expected int64 or string"),
    ],
)
def test_wrong_dtypes_name_the_column_and_the_accepted_type(column, series, expected):
    frame = _frame(make_log_rows(4)).with_columns(series.alias(column))
    with pytest.raises(SchemaError, match=f"in-memory frame: {expected}"):
        validate_log_frame(frame)


def test_categorical_timestamps_are_parsed_not_passed_through():
    frame = _frame(make_log_rows(2)).with_columns(
        pl.Series(["2026-11-01T08:00:00Z", "later"], dtype=pl.Categorical).alias("ts")
    )
    with pytest.raises(SchemaError, match=r"column 'ts', row 1 \(event_id=101\): value 'later'"):
        validate_log_frame(frame)


# ------------------------------------------------------------------------------- in-memory frames
@pytest.mark.parametrize(("case", "mutate", "message"), BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_in_memory_frames_break_the_same_rules_with_the_same_messages(case, mutate, message):
    rows = make_log_rows()
    mutate(rows)
    with pytest.raises(SchemaError, match=message) as raised:
        validate_log_frame(_frame(rows), vocabulary=DEFAULT_FEEDBACK_VOCABULARY)
    assert str(raised.value).startswith("in-memory frame: ")


def test_a_frame_declares_no_vocabulary_so_only_a_given_one_is_checked():
    rows = make_log_rows()
    rows["feedback"][8] = "meh"
    assert validate_log_frame(_frame(rows)).height == 12
    with pytest.raises(SchemaError, match="'meh'.*declared vocabulary"):
        validate_log_frame(_frame(rows), vocabulary=["none", "click", "like", "dislike"])


@pytest.mark.parametrize(
    "run",
    [
        lambda frame, tmp: prepare(frame, tmp / "out"),
        lambda frame, tmp: ik_training_set(frame),
        lambda frame, tmp: user_trajectories(frame),
    ],
    ids=["prepare", "ik_training_set", "user_trajectories"],
)
def test_library_entry_points_validate_in_memory_frames(tmp_path, run):
    rows = make_log_rows()
    rows["propensity"][3] = 1.5
    with pytest.raises(SchemaError, match=r"in-memory frame: column 'propensity', row 3 \(event_id=103\)"):
        run(_frame(rows), tmp_path)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_frames_and_files_give_the_same_marts(log_file):
    frame = load_logs(log_file)
    from_file = ik_training_set(log_file)
    from_frame = ik_training_set(frame)
    assert from_file.equals(from_frame)
    assert user_trajectories(log_file).equals(user_trajectories(frame))


# ------------------------------------------------------------------------------- row groups
def test_rules_and_row_numbers_hold_across_row_groups(tmp_path):
    rows = make_log_rows()
    rows["context"][9] = [1.0, 2.0, 3.0]  # the first row fixed the length at 2
    path = tmp_path / "logs.parquet"
    pq.write_table(rows_to_table(rows), path, row_group_size=4)
    with pytest.raises(SchemaError, match=r"column 'context', row 9 \(event_id=109\).*2 features per row"):
        validate_logs(path)
    rows = make_log_rows()
    rows["event_id"][10] = 101  # a duplicate of a row in the first row group
    pq.write_table(rows_to_table(rows), path, row_group_size=4)
    with pytest.raises(SchemaError, match=r"column 'event_id', row 10 \(event_id=101\).*unique"):
        load_logs(path)
    with pytest.raises(SchemaError, match=r"column 'event_id', row 10 \(event_id=101\).*unique"):
        validate_logs(path)


# ------------------------------------------------------------------------------- ik_training_set
@pytest.fixture
def ik_frame(log_file) -> pl.DataFrame:
    return ik_training_set(load_logs(log_file), max_weight=3.0)


def _with(column, row, value):
    def mutate(frame: pl.DataFrame) -> pl.DataFrame:
        values = frame[column].to_list()
        values[row] = value
        return frame.with_columns(pl.Series(column, values, dtype=frame.schema[column]))
    return mutate


BAD_IK_INPUTS = [
    ("missing weight", lambda f: f.drop("weight"), r"missing column 'weight' \(double\); the ik_training_set table requires"),
    ("weight as text", lambda f: f.with_columns(pl.col("weight").cast(pl.String)), "column 'weight' has dtype String; expected double"),
    ("null weight", _with("weight", 2, None), r"column 'weight', row 2 \(event_id=102\): value None breaks the rule 'no nulls"),
    ("zero weight", _with("weight", 3, 0.0), r"column 'weight', row 3 \(event_id=103\): value 0.0 .*'weight is finite and > 0'"),
    ("infinite weight", _with("weight", 3, float("inf")), r"column 'weight', row 3 .*finite and > 0"),
    ("action index past K", _with("action_index", 4, 4), r"column 'action_index', row 4 .*'candidate_actions\[action_index\] is action'"),
    ("negative action index", _with("action_index", 4, -1), r"column 'action_index', row 4 .*is action'"),
    ("action index at another action", lambda f: f.with_columns(
        pl.when(pl.int_range(pl.len()) == 5).then((pl.col("action_index") + 1) % 4).otherwise(pl.col("action_index"))
        .alias("action_index")), r"column 'action_index', row 5 .*is action'"),
    ("K not the set size", _with("num_candidates", 6, 3), r"column 'num_candidates', row 6 .*'num_candidates is the size of candidate_actions'"),
    ("raw weight not 1/(K p)", _with("raw_weight", 7, 2.0), r"column 'raw_weight', row 7 .*'raw_weight is 1 / \(num_candidates \* propensity\)'"),
    ("weight above raw weight", _with("weight", 8, 2.0), r"column 'weight', row 8 .*'weight is at most raw_weight'"),
    ("propensity above 1", _with("propensity", 1, 1.5), r"column 'propensity', row 1 .*propensity in \(0, 1\]"),
    ("duplicate event id", _with("event_id", 9, 100), r"column 'event_id', row 9 \(event_id=100\).*unique"),
]


@pytest.mark.parametrize(("case", "mutate", "message"), BAD_IK_INPUTS, ids=[case[0] for case in BAD_IK_INPUTS])
def test_bad_ik_training_set_is_rejected_with_one_clear_message(ik_frame, case, mutate, message):
    with pytest.raises(SchemaError, match=message) as raised:
        validate_ik_training_set(mutate(ik_frame), source="prepared/ik_training_set.parquet")
    assert str(raised.value).startswith("prepared/ik_training_set.parquet: ")


def test_a_prepared_ik_training_set_passes_unchanged(log_file, tmp_path):
    result = prepare(log_file, tmp_path, marts=["ik_training_set"], config=None)
    written = pl.read_parquet(result.outputs["ik_training_set"])
    assert validate_ik_training_set(written).equals(written)
    without_raw = written.drop("raw_weight")
    assert validate_ik_training_set(without_raw).equals(without_raw)


def test_fit_igl_refuses_a_bad_ik_training_set(ik_frame, tmp_path):
    bad = tmp_path / "ik_training_set.parquet"
    _with("weight", 3, -1.0)(ik_frame).write_parquet(bad)
    result = CliRunner().invoke(main, ["fit-igl", str(bad), "--out", str(tmp_path / "model"), "--epochs", "1"])
    assert result.exit_code == 2, result.output
    assert f"{bad}: column 'weight', row 3 (event_id=103)" in result.output
    assert not (tmp_path / "model").exists()


def test_ts_strings_in_a_prepared_table_are_parsed(ik_frame):
    frame = ik_frame.with_columns(pl.col("ts").dt.to_string("%Y-%m-%dT%H:%M:%S%z"))
    assert validate_ik_training_set(frame)["ts"][0] == dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)


def test_an_empty_frame_is_rejected():
    empty = pl.from_arrow(pa.Table.from_pylist([], schema=LOG_SCHEMA))
    with pytest.raises(SchemaError, match="empty input: in-memory frame"):
        validate_log_frame(empty)
