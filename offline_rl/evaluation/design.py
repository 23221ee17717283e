"""The sufficient-statistics design: every estimator x policy x metric as columns of one matrix.

Columns (only those the requested estimators need are built):

=====================  =========================================================
``count``              1 per event (column 0)
``r[m]``               metric ``m``'s reward ``r_i`` (the logged policy's value)
``w[p]``, ``wbar[p]``  importance weight ``pi_i / p_i`` and ``min(w_i, c)``
``wr[p,m]``            ``w_i r_i``            (IPS, SNIPS numerator)
``wbarr[p,m]``         ``wbar_i r_i``         (capped IPS, NCIS numerator)
``dm[p,m]``            ``q_pi_i``             (DM)
``dr[p,m]``            ``q_pi_i + w_i (r_i - q_i)`` (DR)
=====================  =========================================================

and the functionals: ``on_policy = mean r``, ``ips = mean wr``, ``capped_ips = mean wbarr``,
``snips = mean wr / mean w``, ``ncis = mean wbarr / mean wbar``, ``dm = mean dm``,
``dr = mean dr``, and for each the relative lift ``estimate / on_policy - 1`` or, with a
``baseline`` policy, ``estimate / baseline's same estimate - 1`` (a ratio of two estimates
from the same logs and the same resample, so their shared noise partly cancels).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from offline_rl.evaluation.estimators import weight_diagnostics
from offline_rl.evaluation.hashing import block_of, unit_keys
from offline_rl.evaluation.partitioned import ResamplingUnits, units_from_unit_sums
from offline_rl.evaluation.statistics import COUNT_COLUMN, Functional, sum_by_label

ESTIMATORS: tuple[str, ...] = ("ips", "capped_ips", "snips", "ncis", "dm", "dr")
_NEEDS_MODEL = frozenset({"dm", "dr"})


@dataclass(frozen=True)
class RewardModel:
    """A reward model's predictions for one metric (needed by DM and DR).

    Attributes
    ----------
    logged
        ``(n,)`` prediction for the logged action, ``q(x_i, a_i)``.
    under_policy
        Policy name -> ``(n,)`` ``q_pi_i = sum_a pi(a | x_i) q(x_i, a)`` (see
        :func:`offline_rl.evaluation.estimators.expected_under_policy`).
    """

    logged: np.ndarray
    under_policy: Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Key:
    """What one functional estimates."""

    policy: str
    metric: str
    estimator: str
    quantity: str  # "value" or "lift"


@dataclass
class Design:
    """Columns, functionals and weight diagnostics for one evaluation."""

    propensity: np.ndarray
    policies: dict[str, np.ndarray]
    rewards: dict[str, np.ndarray]
    estimators: tuple[str, ...]
    cap: float
    reward_models: dict[str, RewardModel]
    columns: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    functionals: list[Functional] = field(default_factory=list)
    keys: list[Key] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.propensity.shape[0])

    def statistics(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """``(stop - start, k)`` per-event statistics of rows ``[start, stop)``."""
        stop = self.n if stop is None else stop
        p = self.propensity[start:stop]
        out = np.empty((stop - start, len(self.columns)), order="F")  # columns contiguous
        cache: dict[str, np.ndarray] = {}
        for index, (kind, policy, metric) in enumerate(self.columns):
            if kind == "count":
                out[:, index] = 1.0
                continue
            if kind == "r":
                out[:, index] = self.rewards[metric][start:stop]
                continue
            if policy not in cache:
                weights = self.policies[policy][start:stop] / p
                cache[policy] = weights
                cache[policy + "\0bar"] = np.minimum(weights, self.cap)
            w, wbar = cache[policy], cache[policy + "\0bar"]
            if kind == "w":
                out[:, index] = w
            elif kind == "wbar":
                out[:, index] = wbar
            else:
                r = self.rewards[metric][start:stop]
                if kind == "wr":
                    out[:, index] = w * r
                elif kind == "wbarr":
                    out[:, index] = wbar * r
                else:
                    model = self.reward_models[metric]
                    q_pi = np.asarray(model.under_policy[policy][start:stop], dtype=np.float64)
                    if kind == "dm":
                        out[:, index] = q_pi
                    else:
                        out[:, index] = q_pi + w * (r - model.logged[start:stop])
        return out

    def diagnostics(self) -> dict[tuple[str, str], tuple[float, float]]:
        """``(policy, estimator) -> (ESS, max weight)`` over all events."""
        out: dict[tuple[str, str], tuple[float, float]] = {}
        for policy, probs in self.policies.items():
            weights = probs / self.propensity
            plain = weight_diagnostics(weights)
            capped = weight_diagnostics(np.minimum(weights, self.cap))
            for estimator in self.estimators:
                if estimator in ("ips", "snips", "dr"):
                    out[(policy, estimator)] = plain
                elif estimator in ("capped_ips", "ncis"):
                    out[(policy, estimator)] = capped
                else:
                    out[(policy, estimator)] = (float(self.n), 1.0)
        for estimator in ("on_policy",):
            out[("logged", estimator)] = (float(self.n), 1.0)
        return out

    def expected_positives(self) -> dict[tuple[str, str, str], float]:
        """``(policy, metric, estimator) -> ESS(w) * V_sn = sum w * sum w r / sum w^2``.

        The number of positives the policy's effective sample would hold if its positives
        were spread over the events in proportion to the weights (for the logs, ``w = 1``:
        the number of positives). Unlike the effective count of ``w r``, it drops when
        large weights sit on events *without* a positive, which is how heavy weights and
        rare rewards hide a region of the policy from the data (see :mod:`.reliability`).
        DM has no importance weights (NaN: the rule does not apply); DR uses plain weights.
        """
        out: dict[tuple[str, str, str], float] = {}
        for metric, rewards in self.rewards.items():
            out[("logged", metric, "on_policy")] = float(np.abs(rewards).sum())
        for policy, probs in self.policies.items():
            weights = probs / self.propensity
            variants = {"plain": weights, "capped": np.minimum(weights, self.cap)}
            for metric, rewards in self.rewards.items():
                for estimator in self.estimators:
                    if estimator == "dm":
                        out[(policy, metric, estimator)] = float("nan")
                        continue
                    w = variants["capped" if estimator in ("capped_ips", "ncis") else "plain"]
                    square = float(np.dot(w, w))
                    value = float(w.sum()) * float(np.dot(w, np.abs(rewards))) / square
                    out[(policy, metric, estimator)] = value if square > 0 else 0.0
        return out

    def resampling_units(
        self,
        *,
        clusters: np.ndarray | None = None,
        events: np.ndarray | None = None,
        max_units: int | None = None,
        seed: int = 0,
        chunk_rows: int = 1 << 20,
    ) -> ResamplingUnits:
        """Resampling units, their keys and each column's effective count over them.

        Units are users (``clusters``: the events of one id summed) or events (``events``:
        their ids, unique; by default their rows ``0 .. n - 1``), ordered by their 64-bit key
        (:func:`.hashing.unit_keys`). Above ``max_units`` units they are summed into their
        blocks, ``hash(key, seed) mod max_units`` (:func:`.hashing.block_of`), and the
        non-empty blocks, ordered by index, are the units. Every step depends on the ids
        alone, so :func:`.partitioned.spark_resampling_units` on the same rows, however
        partitioned, gives the same units to rounding.

        Statistics are built ``chunk_rows`` events at a time, so the full ``(n, k)`` event
        matrix never exists when units are users or blocks (10M rows fit; users are held as
        ``(users, k)``). The effective counts (:func:`.reliability.effective_counts`) are
        taken over the events or users *before* blocking: blocks would hide how
        concentrated a column is.
        """
        n = self.n
        k = len(self.columns)
        for name, ids in (("clusters", clusters), ("events", events)):
            if ids is not None and np.asarray(ids).shape != (n,):
                raise ValueError(f"Expected `{name}.shape == ({n},)`, but found {np.asarray(ids).shape}.")
        if clusters is not None or max_units is None or n <= max_units:
            ids = clusters if clusters is not None else events
            keys = unit_keys(np.arange(n, dtype=np.int64) if ids is None else ids)
            keys, labels = np.unique(keys, return_inverse=True)
            labels = labels.ravel()
            units = np.zeros((keys.size, k))
            for start in range(0, n, chunk_rows):
                stop = min(n, start + chunk_rows)
                units += sum_by_label(self.statistics(start, stop), labels[start:stop], keys.size)
            blocks = block_of(keys, seed=seed, blocks=max_units) if max_units is not None else None
            return units_from_unit_sums(units, keys, blocks, max_units=max_units)
        # Events above max_units: straight into their blocks, chunk by chunk.
        units = np.zeros((max_units, k))
        absolute = np.zeros(k)
        square = np.zeros(k)
        for start in range(0, n, chunk_rows):
            stop = min(n, start + chunk_rows)
            ids = np.arange(start, stop, dtype=np.int64) if events is None else np.asarray(events)[start:stop]
            stats = self.statistics(start, stop)
            units += sum_by_label(stats, block_of(unit_keys(ids), seed=seed, blocks=max_units), max_units)
            absolute += np.abs(stats).sum(axis=0)
            square += np.einsum("mk,mk->k", stats, stats)
        with np.errstate(divide="ignore", invalid="ignore"):
            counts = np.where(square > 0, absolute * absolute / square, 0.0)
        present = np.flatnonzero(units[:, COUNT_COLUMN] > 0)
        return ResamplingUnits(
            units=units[present], keys=present.astype(np.uint64), effective_counts=counts, n_units=n
        )


def build_design(
    *,
    propensity: np.ndarray,
    policies: Mapping[str, np.ndarray],
    rewards: Mapping[str, np.ndarray],
    estimators: Sequence[str] = ESTIMATORS,
    cap: float = 10.0,
    reward_models: Mapping[str, RewardModel] | None = None,
    baseline: str | None = None,
) -> Design:
    """Lay out the columns and functionals for ``estimators x policies x metrics``.

    DM and DR are built only for metrics that have a :class:`RewardModel`. Lifts are over
    the logged policy's on-policy value, or over policy ``baseline``'s estimate with the same
    estimator (the baseline then has no lift rows of its own).
    """
    if baseline is not None and (baseline not in policies or len(policies) < 2):
        raise ValueError(
            f"The baseline policy {baseline!r} must be one of at least two candidate "
            f"policies; got {sorted(policies)}."
        )
    unknown = [e for e in estimators if e not in ESTIMATORS]
    if unknown:
        raise ValueError(f"Unknown estimator {unknown[0]!r}; valid options are {list(ESTIMATORS)}.")
    reward_models = dict(reward_models or {})
    n = int(np.asarray(propensity).shape[0])
    for metric, model in reward_models.items():
        _check_reward_model(metric, model, n, rewards, policies)
    design = Design(
        propensity=np.asarray(propensity, dtype=np.float64),
        policies={k: np.asarray(v, dtype=np.float64) for k, v in policies.items()},
        rewards={k: np.asarray(v, dtype=np.float64) for k, v in rewards.items()},
        estimators=tuple(estimators),
        cap=float(cap),
        reward_models=reward_models,
    )
    columns: dict[tuple[str, str | None, str | None], int] = {}

    def column(kind: str, policy: str | None, metric: str | None) -> int:
        spec = (kind, policy, metric)
        if spec not in columns:
            columns[spec] = len(columns)
        return columns[spec]

    column("count", None, None)
    logged: dict[str, Functional] = {}
    for metric in design.rewards:
        functional = Functional(f"logged/{metric}/on_policy", ((column("r", None, metric), 1),))
        logged[metric] = functional
        design.functionals.append(functional)
        design.keys.append(Key("logged", metric, "on_policy", "value"))
    denominators: dict[tuple[str, str], Functional] = {}
    # the baseline goes first so that its functionals exist when the others' lifts need them
    order = sorted(design.policies, key=lambda name: name != baseline)
    for policy in order:
        for metric in design.rewards:
            for estimator in design.estimators:
                if estimator in _NEEDS_MODEL:
                    model = reward_models.get(metric)
                    if model is None:
                        continue
                    if policy not in model.under_policy:
                        raise ValueError(
                            f"The reward model for metric {metric!r} has no `under_policy` "
                            f"predictions for policy {policy!r}; it has {sorted(model.under_policy)}."
                        )
                terms = _terms(estimator, policy, metric, column)
                functional = Functional(f"{policy}/{metric}/{estimator}", terms)
                design.functionals.append(functional)
                design.keys.append(Key(policy, metric, estimator, "value"))
                if baseline is None:
                    denominator = logged[metric]
                elif policy == baseline:
                    denominators[(metric, estimator)] = functional
                    continue
                else:
                    denominator = denominators[(metric, estimator)]
                design.functionals.append(
                    functional.ratio_over(denominator, f"{policy}/{metric}/{estimator}/lift")
                )
                design.keys.append(Key(policy, metric, estimator, "lift"))
    design.columns = list(columns)
    return design


def _terms(estimator: str, policy: str, metric: str, column) -> tuple[tuple[int, int], ...]:
    if estimator == "ips":
        return ((column("wr", policy, metric), 1),)
    if estimator == "capped_ips":
        return ((column("wbarr", policy, metric), 1),)
    if estimator == "snips":
        return ((column("wr", policy, metric), 1), (column("w", policy, None), -1))
    if estimator == "ncis":
        return ((column("wbarr", policy, metric), 1), (column("wbar", policy, None), -1))
    return ((column(estimator, policy, metric), 1),)


def _check_reward_model(metric, model: RewardModel, n: int, rewards, policies) -> None:
    """Every prediction array of a reward model is ``(n,)`` and finite; names are known."""
    if metric not in rewards:
        raise ValueError(
            f"The reward model is for metric {metric!r}, which is not evaluated; metrics: {sorted(rewards)}."
        )
    unknown = sorted(set(model.under_policy) - set(policies))
    if unknown:
        raise ValueError(
            f"The reward model for metric {metric!r} has `under_policy` predictions for "
            f"{unknown[0]!r}, which is not a candidate policy; candidates: {sorted(policies)}."
        )
    arrays = [("logged", model.logged)] + [
        (f"under_policy[{name!r}]", values) for name, values in model.under_policy.items()
    ]
    for name, values in arrays:
        array = np.asarray(values, dtype=np.float64)
        if array.shape != (n,):
            raise ValueError(
                f"The reward model for metric {metric!r}: `{name}` must hold one prediction per "
                f"event, shape ({n},); found shape {array.shape}."
            )
        bad = ~np.isfinite(array)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"The reward model for metric {metric!r}: `{name}` must be finite; row {row} is "
                f"{array[row].item()!r}."
            )
