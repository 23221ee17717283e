"""Keep the simulation-only latent reward away from learners.

Simulated logs carry the hidden ``reward`` column so experiments can score what was
learned. IGL-P and QR-IQL must never read it: pipelines drop it with
:func:`drop_hidden_reward` before fitting, and every learner's ``fit`` calls
:func:`assert_no_hidden_reward` first, so a frame that still holds it is refused.
"""

from __future__ import annotations

from offline_rl.errors import HiddenRewardError
from offline_rl.schema import HIDDEN_REWARD_COLUMN


def _columns(frame) -> list[str]:
    if hasattr(frame, "column_names"):  # pyarrow.Table
        return list(frame.column_names)
    return list(frame.columns)


def drop_hidden_reward(frame):
    """Return ``frame`` (polars DataFrame/LazyFrame or pyarrow Table) without ``reward``."""
    if HIDDEN_REWARD_COLUMN not in _columns(frame):
        return frame
    if hasattr(frame, "column_names"):
        return frame.drop_columns([HIDDEN_REWARD_COLUMN])
    return frame.drop(HIDDEN_REWARD_COLUMN)


def assert_no_hidden_reward(frame, *, learner: str) -> None:
    """Raise :class:`HiddenRewardError` when ``frame`` holds the hidden reward column."""
    if HIDDEN_REWARD_COLUMN in _columns(frame):
        raise HiddenRewardError(
            f"{learner} was given the column {HIDDEN_REWARD_COLUMN!r}, the simulation-only "
            "latent reward that no learner may read; drop it first with "
            "offline_rl.data.hidden_reward.drop_hidden_reward(frame)."
        )
