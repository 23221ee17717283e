"""Validation on an engine: the same rules, the same first row, the same message on DuckDB
(files streamed, or a frame read in place) and on Spark (files read by its executors)."""

from __future__ import annotations

import re

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from log_builders import make_log_rows, rows_to_table
from test_loading import BAD_INPUTS

from offline_rl.data.loading import load_logs, validate_logs
from offline_rl.data.prepare import ik_training_set, prepare
from offline_rl.data.validation import validate_frame
from offline_rl.errors import SchemaError
from offline_rl.schema import IK_TRAINING_SET_TABLE


def _message(call) -> str:
    with pytest.raises(SchemaError) as raised:
        call()
    return str(raised.value)


def _write(path, rows, **kwargs):
    """Rows as a Parquet file whose columns may hold nulls (as a producer's might)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = rows_to_table(rows)
    nullable = pa.schema([field.with_nullable(True) for field in table.schema], metadata=table.schema.metadata)
    pq.write_table(pa.Table.from_arrays(table.columns, schema=nullable), path, **kwargs)
    return path


# ------------------------------------------------------------------------------- the bad-input table
@pytest.mark.parametrize(("case", "mutate", "message"), BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_gives_one_message_on_every_engine(tmp_path, engine, case, mutate, message):
    rows = make_log_rows()
    mutate(rows)
    path = _write(tmp_path / "logs.parquet", rows)
    on_engine = _message(lambda: validate_logs(path, engine=engine))
    in_memory = _message(lambda: load_logs(path))  # the frame, checked by DuckDB in place
    assert on_engine == in_memory
    assert on_engine.startswith(f"{path}: ")
    assert re.search(message, on_engine), on_engine


def test_valid_logs_summarize_alike_on_every_engine(log_file, engine):
    assert validate_logs(log_file, engine=engine) == validate_logs(log_file)


# ------------------------------------------------------------------------------- which row is first
def _files_breaking(tmp_path, breaks: dict[str, list[tuple[str, int, object]]]) -> list:
    """One file per name (sorted), each 12 valid rows with the given (column, row, value) set."""
    paths = []
    for number, (name, changes) in enumerate(sorted(breaks.items())):
        rows = make_log_rows()
        rows["event_id"] = [value + 1000 * number for value in rows["event_id"]]
        for column, row, value in changes:
            rows[column][row] = value
        paths.append(_write(tmp_path / name, rows))
    return paths


def test_the_first_rule_in_order_wins_over_an_earlier_row(tmp_path, engine):
    # file a breaks a late rule at row 1; file b an early rule at row 9: the early rule is reported,
    # with the rows of every file counted.
    paths = _files_breaking(tmp_path, {
        "a.parquet": [("context", 1, [1.0]), ("propensity", 11, 2.0)],
        "b.parquet": [("propensity", 9, 1.5), ("propensity", 10, 0.0)],
    })
    message = _message(lambda: validate_logs(tmp_path, engine=engine))
    assert message.startswith(f"{paths[0]}: column 'propensity', row 11 (event_id=111): value 2.0 ")
    assert message.endswith("(3 rows break this rule)")


def test_within_a_rule_the_first_file_then_the_first_row(tmp_path, engine):
    paths = _files_breaking(tmp_path, {
        "date=2026-11-02/part-0.parquet": [("action", 2, 7)],
        "date=2026-11-01/part-1.parquet": [("action", 8, 9)],
        "date=2026-11-01/part-0.parquet": [("action", 5, 9), ("action", 3, 8)],
    })
    message = _message(lambda: validate_logs(tmp_path, engine=engine))
    assert message.startswith(f"{paths[0]}: column 'action', row 3 (event_id=103): value '8 not in 0, 1, 2, 3'")
    assert message.endswith("(4 rows break this rule)")


def test_a_repeated_event_id_is_the_later_row_of_the_later_file(tmp_path, engine):
    first = make_log_rows(4)
    second = make_log_rows(4)
    second["event_id"] = [200, 201, 102, 203]  # 102 is row 2 of the first file
    first["event_id"][3] = 100  # and the first file repeats itself at row 3
    paths = [_write(tmp_path / "a.parquet", first), _write(tmp_path / "b.parquet", second)]
    message = _message(lambda: validate_logs(tmp_path, engine=engine))
    assert message.startswith(f"{paths[0]}: column 'event_id', row 3 (event_id=100): value 100 breaks the rule 'event_id is unique'")
    assert message.endswith("(2 rows break this rule)")


def test_rows_are_numbered_within_files_across_row_groups(tmp_path, engine):
    rows = make_log_rows(40)
    rows["feedback"][33] = "meh"
    path = _write(tmp_path / "logs.parquet", rows, row_group_size=7)
    message = _message(lambda: validate_logs(path, engine=engine))
    assert message.startswith(f"{path}: column 'feedback', row 33 (event_id=133): value 'meh'")


@pytest.mark.spark
def test_spark_numbers_rows_of_a_file_split_across_tasks(tmp_path, spark_engine):
    rows = make_log_rows(3000)
    rows["propensity"][2500] = 0.0
    path = _write(tmp_path / "logs.parquet", rows, row_group_size=100)
    session = spark_engine.session()
    previous = session.conf.get("spark.sql.files.maxPartitionBytes")
    session.conf.set("spark.sql.files.maxPartitionBytes", "4096")  # many splits of one file
    try:
        message = _message(lambda: validate_logs(path, engine=spark_engine))
    finally:
        session.conf.set("spark.sql.files.maxPartitionBytes", previous)
    assert message.startswith(f"{path}: column 'propensity', row 2500 (event_id=2600): value 0.0")


def test_file_names_with_spaces_and_signs(tmp_path, engine):
    paths = _files_breaking(tmp_path, {
        "a b+c%20d/part 0.parquet": [("propensity", 4, 1.5)],
        "z.parquet": [],
    })
    message = _message(lambda: validate_logs(tmp_path, engine=engine))
    assert message.startswith(f"{paths[0]}: column 'propensity', row 4 (event_id=104)")


# ------------------------------------------------------------------------------- values the SQL must agree on
@pytest.mark.parametrize(
    ("column", "row", "value", "expected"),
    [
        ("candidate_actions", 2, [0, None, 2, 3], r"row 2 .*value \[0, None, 2, 3\] breaks the rule 'candidate_actions is a non-empty set'"),
        ("candidate_actions", 2, [], r"row 2 .*value \[\] breaks the rule 'candidate_actions is a non-empty set'"),
        ("action_probs", 4, [0.25, None, 0.5, 0.25], r"row 4 .*'each probability in \[0, 1\]'"),
        ("action_probs", 4, [0.25, float("nan"), 0.5, 0.25], r"row 4 .*'each probability in \[0, 1\]'"),
        ("action_probs", 4, [1.25, -0.25, 0.0, 0.0], r"row 4 .*'each probability in \[0, 1\]'"),
        ("action_probs", 4, [0.25, 0.25, 0.25, 0.2500011], r"row 4 .*value 1.0000011 breaks the rule 'action_probs sums to 1"),
        ("context", 0, [1.0, 2.0, 3.0], r"row 1 .*value \[1.0, 1.0\] breaks .*3 features per row, as the first row has \(11 rows"),
        ("context", 5, [], r"row 5 .*value \[\] breaks the rule 'every context has the same length'"),
        ("propensity", 6, None, r"row 6 \(event_id=106\): value None breaks the rule 'no nulls in required columns'; expected a double"),
    ],
)
def test_edge_values_break_the_same_rule_on_every_engine(tmp_path, engine, column, row, value, expected):
    rows = make_log_rows()
    rows[column][row] = value
    path = _write(tmp_path / "logs.parquet", rows)
    message = _message(lambda: validate_logs(path, engine=engine))
    assert message == _message(lambda: load_logs(path))
    assert re.search(expected, message), message


def test_probabilities_within_the_tolerance_pass(tmp_path, duckdb_engine):
    rows = make_log_rows()
    rows["action_probs"][4] = [0.25, 0.25, 0.25, 0.2500005]
    path = _write(tmp_path / "logs.parquet", rows)
    assert validate_logs(path, engine=duckdb_engine).rows == 12


def test_text_columns_in_parquet_are_parsed_here_and_checked_on_the_engine(tmp_path, duckdb_engine):
    rows = make_log_rows(6)
    frame = pl.from_arrow(rows_to_table(rows)).with_columns(
        pl.col("ts").dt.to_string("%Y-%m-%dT%H:%M:%SZ"), pl.col("context").cast(pl.List(pl.String)).list.join(",")
    )
    frame = frame.with_columns(("[" + pl.col("context") + "]").alias("context"))
    frame.with_columns(pl.when(pl.int_range(pl.len()) == 4).then(2.0).otherwise(pl.col("propensity")).alias("propensity")).write_parquet(tmp_path / "logs.parquet")
    message = _message(lambda: validate_logs(tmp_path / "logs.parquet", engine=duckdb_engine))
    assert message.startswith(f"{tmp_path / 'logs.parquet'}: column 'propensity', row 4 (event_id=104): value 2.0")


def test_an_empty_file_among_others(tmp_path, duckdb_engine):
    empty = {name: [] for name in make_log_rows()}
    pq.write_table(rows_to_table(empty), tmp_path / "a.parquet")
    _write(tmp_path / "b.parquet", make_log_rows(5))
    assert validate_logs(tmp_path, engine=duckdb_engine).rows == 5
    with pytest.raises(SchemaError, match="empty input"):
        validate_logs(tmp_path / "a.parquet", engine=duckdb_engine)


def test_prepare_validates_on_its_engine(tmp_path, engine):
    rows = make_log_rows()
    rows["propensity"][3] = 1.5
    path = _write(tmp_path / "logs" / "part-0.parquet", rows)
    message = _message(lambda: prepare(path.parent, tmp_path / "out", engine=engine))
    assert message.startswith(f"{path}: column 'propensity', row 3 (event_id=103)")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# ------------------------------------------------------------------------------- the ik_training_set rules
IK_CASES = [
    ("weight", 3, float("inf"), "'weight is finite and > 0'"),
    ("weight", 3, float("nan"), "'weight is finite and > 0'"),
    ("action_index", 4, 4, "'candidate_actions[action_index] is action'"),
    ("action_index", 4, -1, "'candidate_actions[action_index] is action'"),
    ("raw_weight", 7, 2.0, "'raw_weight is 1 / (num_candidates * propensity)'"),
    ("propensity", 7, 0.0, "'propensity in (0, 1]'"),
    ("weight", 8, 20.0, "'weight is at most raw_weight'"),
]


def _ik_message(log_file, engine, column, row, value) -> str:
    frame = ik_training_set(load_logs(log_file), max_weight=3.0)
    values = frame[column].to_list()
    values[row] = value
    frame = frame.with_columns(pl.Series(column, values, dtype=frame.schema[column]))
    return _message(lambda: validate_frame(frame, IK_TRAINING_SET_TABLE, source="ik.parquet", engine=engine))


@pytest.mark.parametrize(("column", "row", "value", "rule"), IK_CASES)
def test_ik_training_set_rules(log_file, duckdb_engine, column, row, value, rule):
    message = _ik_message(log_file, duckdb_engine, column, row, value)
    assert message.startswith(f"ik.parquet: column {column!r}, row {row} (event_id={100 + row})")
    assert rule in message


@pytest.mark.spark
def test_ik_training_set_rules_the_same_on_spark(log_file, duckdb_engine, spark_engine):
    # The cases where Spark's ANSI mode would raise (infinite weight, an index out of range,
    # a zero propensity under a division) and one of each other kind.
    for column, row, value, _ in IK_CASES[::2] + [IK_CASES[5]]:
        assert _ik_message(log_file, spark_engine, column, row, value) == _ik_message(
            log_file, duckdb_engine, column, row, value
        )


def test_a_list_column_of_nulls_and_narrow_types_on_every_engine(tmp_path, engine):
    rows = make_log_rows(4)
    table = rows_to_table(rows)
    narrow = table.set_column(
        table.schema.get_field_index("candidate_actions"), "candidate_actions",
        pa.array(rows["candidate_actions"], pa.list_(pa.uint8())),
    ).set_column(table.schema.get_field_index("event_id"), "event_id", pa.array(rows["event_id"], pa.int32()))
    pq.write_table(narrow, tmp_path / "logs.parquet")
    assert validate_logs(tmp_path / "logs.parquet", engine=engine).rows == 4
