"""The canonical raw log schema: one row per logged decision.

This module is the single declaration of the public contract that every loader,
simulator, SQL job and learner agrees on. It imports no torch.

==================  ============================  ==============================================
column              type                          meaning
==================  ============================  ==============================================
event_id            string or int64, unique       the decision
ts                  timestamp                     when it was logged
user_id             string or int64               who (also the personalization key)
context             list<float> (may be empty)    dense context features
candidate_actions   list<int64>                   the action set A_t; may vary per row
action              int64, in candidate_actions   what the logging policy showed
propensity          double in (0, 1]              the logging policy's P(action | x)
action_probs        list<double>, optional        logging distribution over candidate_actions
feedback            string                        one signal from a declared vocabulary
reward              double, optional              hidden latent reward, simulation only
==================  ============================  ==============================================

The feedback vocabulary is declared, in order of precedence, by the caller, by the
Parquet file's schema metadata (key :data:`VOCABULARY_METADATA_KEY`, a JSON list that the
simulators write), or else :data:`DEFAULT_FEEDBACK_VOCABULARY`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

import pyarrow as pa

SCHEMA_VERSION = "1"

#: Metadata key under which a Parquet file declares its feedback vocabulary (JSON list).
VOCABULARY_METADATA_KEY = b"offline_rl.feedback_vocabulary"

#: The simulation-only latent reward. No learner may read it.
HIDDEN_REWARD_COLUMN = "reward"

#: Signals a recommender commonly logs. ``none`` means the user gave no feedback.
DEFAULT_FEEDBACK_VOCABULARY: tuple[str, ...] = (
    "none",
    "click",
    "skip",
    "like",
    "dislike",
    "love",
    "haha",
    "wow",
    "sad",
    "angry",
    "comment",
    "share",
)

REQUIRED_COLUMNS: tuple[str, ...] = (
    "event_id",
    "ts",
    "user_id",
    "context",
    "candidate_actions",
    "action",
    "propensity",
    "feedback",
)
OPTIONAL_COLUMNS: tuple[str, ...] = ("action_probs", HIDDEN_REWARD_COLUMN)

#: The canonical Arrow schema, with int64 ids. ``event_id`` and ``user_id`` may also be
#: strings; :data:`ALLOWED_ID_TYPES` lists what the validator accepts.
LOG_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.int64(), nullable=False),
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("user_id", pa.int64(), nullable=False),
        pa.field("context", pa.list_(pa.float32()), nullable=False),
        pa.field("candidate_actions", pa.list_(pa.int64()), nullable=False),
        pa.field("action", pa.int64(), nullable=False),
        pa.field("propensity", pa.float64(), nullable=False),
        pa.field("action_probs", pa.list_(pa.float64()), nullable=True),
        pa.field("feedback", pa.string(), nullable=False),
        pa.field(HIDDEN_REWARD_COLUMN, pa.float64(), nullable=True),
    ],
    metadata={b"offline_rl.schema_version": SCHEMA_VERSION.encode()},
)

#: Optional table of action features.
ACTIONS_SCHEMA = pa.schema(
    [
        pa.field("action_id", pa.int64(), nullable=False),
        pa.field("features", pa.list_(pa.float32()), nullable=False),
    ]
)

#: Tolerance on ``sum(action_probs) == 1`` and on ``propensity == action_probs[action]``.
PROBABILITY_SUM_TOLERANCE = 1e-6


def schema_with_vocabulary(
    vocabulary: Iterable[str], schema: pa.Schema = LOG_SCHEMA
) -> pa.Schema:
    """Return ``schema`` whose metadata declares the feedback ``vocabulary``."""
    metadata = dict(schema.metadata or {})
    metadata[VOCABULARY_METADATA_KEY] = json.dumps(list(vocabulary)).encode()
    return schema.with_metadata(metadata)


def vocabulary_from_metadata(metadata: Mapping[bytes, bytes] | None) -> tuple[str, ...] | None:
    """The vocabulary a file declares in its schema metadata, or ``None``."""
    if not metadata or VOCABULARY_METADATA_KEY not in metadata:
        return None
    return tuple(json.loads(metadata[VOCABULARY_METADATA_KEY].decode()))
