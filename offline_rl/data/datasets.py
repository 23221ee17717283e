"""Loaders for the small real data sets shipped in ``datasets/`` (see ``datasets/README.md``).

* :func:`load_covertype` -- the 15,000-row Covertype sample as ``(features, labels)`` arrays,
  the raw material of the Covertype IGL simulation (IGL-P paper, Section 4.1).
* :func:`load_open_bandit` -- the Open Bandit Dataset sample (``random`` or ``bts`` logging
  policy, 10,000 rounds each) converted to the canonical log schema.

The data folder is found, in order, from the ``path`` argument, the ``OFFLINE_RL_DATASETS``
environment variable, or ``<repository root>/datasets``. No network access, no torch.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import polars as pl

#: Environment variable that overrides the location of the ``datasets`` folder.
DATASETS_ENV_VAR = "OFFLINE_RL_DATASETS"

#: Relative location of each shipped file inside the ``datasets`` folder.
COVERTYPE_FILE = Path("covertype") / "covtype_15k.csv.gz"
OPEN_BANDIT_FILES = {
    "random": Path("open-bandit") / "random" / "all.csv.gz",
    "bts": Path("open-bandit") / "bts" / "all.csv.gz",
}

#: Number of Covertype features and classes.
COVERTYPE_N_FEATURES = 54
COVERTYPE_N_CLASSES = 7

#: Number of items in the Open Bandit sample.
OPEN_BANDIT_N_ITEMS = 80

#: Feedback vocabulary of :func:`load_open_bandit`.
OPEN_BANDIT_VOCABULARY: tuple[str, ...] = ("none", "click")


def datasets_dir() -> Path:
    """The ``datasets`` folder: ``$OFFLINE_RL_DATASETS`` or ``<repository root>/datasets``."""
    override = os.environ.get(DATASETS_ENV_VAR)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "datasets"


def _resolve(path: str | os.PathLike[str] | None, relative: Path, what: str) -> Path:
    resolved = Path(path) if path is not None else datasets_dir() / relative
    if not resolved.is_file():
        raise FileNotFoundError(
            f"The {what} file was not found at '{resolved}'. Pass its location with `path=...` "
            f"or set {DATASETS_ENV_VAR} to the folder holding '{relative}'."
        )
    return resolved


def load_covertype(path: str | os.PathLike[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Load the Covertype sample.

    Parameters
    ----------
    path : path-like, optional
        A CSV (optionally gzip-compressed) with the 54 feature columns followed by
        ``Cover_Type`` in 1..7. Defaults to ``datasets/covertype/covtype_15k.csv.gz``.

    Returns
    -------
    features : float32 (n, 54)
        The raw features (10 numeric, 4 wilderness one-hot, 40 soil one-hot), unscaled.
    labels : int64 (n,)
        ``Cover_Type - 1``, in 0..6.
    """
    source = _resolve(path, COVERTYPE_FILE, "Covertype")
    frame = pl.read_csv(source)
    if frame.width != COVERTYPE_N_FEATURES + 1 or frame.columns[-1] != "Cover_Type":
        raise ValueError(
            f"Expected {COVERTYPE_N_FEATURES} feature columns followed by 'Cover_Type' in "
            f"'{source}'; got {frame.width} columns ending with '{frame.columns[-1]}'."
        )
    features = frame.drop("Cover_Type").to_numpy().astype(np.float32)
    labels = frame.get_column("Cover_Type").to_numpy().astype(np.int64) - 1
    if labels.size and (labels.min() < 0 or labels.max() >= COVERTYPE_N_CLASSES):
        raise ValueError(
            f"'Cover_Type' must be in 1..{COVERTYPE_N_CLASSES} in '{source}'; found values "
            f"{labels.min() + 1}..{labels.max() + 1}."
        )
    return features, labels


def hash_user_features(*features: str) -> int:
    """Stable int64 user id: the first 15 hex digits of md5 of the '|'-joined features."""
    digest = hashlib.md5("|".join(features).encode("utf-8")).hexdigest()
    return int(digest[:15], 16)


def load_open_bandit(policy: str, path: str | os.PathLike[str] | None = None) -> pl.DataFrame:
    """Load the Open Bandit Dataset sample of one logging policy in the canonical log schema.

    Parameters
    ----------
    policy : {"random", "bts"}
        Which logging policy's sample (uniform random, or Bernoulli Thompson sampling).
    path : path-like, optional
        The ``all.csv(.gz)`` file; defaults to ``datasets/open-bandit/<policy>/all.csv.gz``.

    Returns
    -------
    polars.DataFrame
        Columns in :data:`offline_rl.schema.LOG_SCHEMA` order, without ``action_probs``
        and ``reward`` (unknown for real data):

        * ``event_id`` -- the row index (int64);
        * ``ts`` -- ``timestamp`` parsed as a UTC datetime (microseconds);
        * ``user_id`` -- :func:`hash_user_features` of ``user_feature_0..3`` (int64);
        * ``context`` -- the 80 ``user-item_affinity_*`` values (list[f32]);
        * ``candidate_actions`` -- ``0..79`` on every row;
        * ``action`` -- ``item_id``; ``propensity`` -- ``propensity_score``;
        * ``feedback`` -- ``"click"`` if ``click == 1`` else ``"none"``.

        The slot ``position`` (1..3) has no column in the canonical schema and is dropped; the
        logged propensity is the marginal one the data set ships.
    """
    if policy not in OPEN_BANDIT_FILES:
        raise ValueError(
            f"The 'policy' parameter must be a str among {{'random', 'bts'}}; got {policy!r}."
        )
    source = _resolve(path, OPEN_BANDIT_FILES[policy], f"Open Bandit '{policy}'")
    raw = pl.read_csv(source)
    affinity = [f"user-item_affinity_{i}" for i in range(OPEN_BANDIT_N_ITEMS)]
    user_features = [f"user_feature_{i}" for i in range(4)]
    required = ["timestamp", "item_id", "click", "propensity_score", *user_features, *affinity]
    missing = [c for c in required if c not in raw.columns]
    if missing:
        raise ValueError(
            f"The Open Bandit file '{source}' lacks column(s) {missing}; "
            f"found {raw.columns[:8]}... ({raw.width} columns)."
        )
    user_ids = [
        hash_user_features(*row) for row in raw.select(user_features).cast(pl.String).iter_rows()
    ]
    n = raw.height
    candidates = list(range(OPEN_BANDIT_N_ITEMS))
    return pl.DataFrame(
        {
            "event_id": pl.Series(np.arange(n, dtype=np.int64)),
            "ts": raw.get_column("timestamp").str.to_datetime(time_unit="us", time_zone="UTC"),
            "user_id": pl.Series(user_ids, dtype=pl.Int64),
            "context": raw.select(
                pl.concat_list([pl.col(c).cast(pl.Float32) for c in affinity])
            ).to_series(),
            "candidate_actions": pl.Series([candidates] * n, dtype=pl.List(pl.Int64)),
            "action": raw.get_column("item_id").cast(pl.Int64),
            "propensity": raw.get_column("propensity_score").cast(pl.Float64),
            "feedback": pl.Series(
                np.where(raw.get_column("click").to_numpy() == 1, "click", "none"), dtype=pl.String
            ),
        }
    )
