"""Configuration of the IGL-P learner (:class:`offline_rl.igl.learner.IGLP`).

One frozen, keyword-only dataclass, validated on construction, with a JSON round trip
(:meth:`IGLPConfig.to_dict` / :meth:`IGLPConfig.from_dict`) carrying a schema version.
Every field's docstring doubles as CLI help.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CONFIG_SCHEMA_VERSION = "1"

_EXPLORATIONS = ("epsilon_greedy", "squarecb", "greedy")
_POLICY_WEIGHTINGS = ("importance", "none")


def _check(condition: bool, name: str, rule: str, value: Any, valid: str | None = None) -> None:
    if not condition:
        message = f"The {name!r} parameter of IGLPConfig must be {rule}. Got {value!r} instead."
        if valid:
            message += f" Valid options: {valid}."
        raise ValueError(message)


@dataclass(frozen=True, kw_only=True)
class IGLPConfig:
    """Hyperparameters of IGL-P (Algorithm 1 of Maghakian et al., 2023).

    References
    ----------
    Maghakian et al., "Personalized Reward Learning with Interaction-Grounded Learning
    (IGL)", ICLR 2023, Algorithm 1 and Eq. (4).
    """

    states: int = 2
    """Number of latent reward states: 2 (r in {0, 1}) or 3 (r in {-1, 0, 1})."""

    negative_signals: tuple[str, ...] = ()
    """Feedback signals for which the definitely-negative oracle DN(x, y) fires (3 states only)."""

    alpha: float = 1.0
    """Negative labelling propensity alpha of Eq. (4); a definitely-negative extreme event
    is decoded as -1/alpha. alpha = 1 with no oracle is IGL-P(2)."""

    threshold: float = 2.0
    """Extreme-event threshold of Eq. (3)-(4): r_hat = 0 when K * P_hat(a | x, y) <= threshold."""

    embedding_dim: int = 2
    """Size of the user and feedback embeddings of the IK model (2 in the paper's Fig. 2)."""

    action_dim: int = 16
    """Size of the action representation shared by the IK model and the policy."""

    hidden_dim: int = 64
    """Width of the context MLP (0 = linear in the standardised context)."""

    context_interaction: bool = True
    """Let the context shift the user representation that meets the feedback embedding
    (feedback may depend on the whole context, not only the user id)."""

    ik_epochs: int = 40
    """Full passes over the training rows for each IK restart."""

    ik_warmup_epochs: int = 5
    """Epochs at the start of each IK restart during which the reward predictor sees the
    action only (not the context): the decoder first learns from how the action marginal
    shifts with the feedback, which pulls it off the no-signal saddle point."""

    ik_batch_size: int = 4096
    """Mini-batch size of the IK classifier (Adam)."""

    ik_learning_rate: float = 0.03
    """Adam learning rate of the IK classifier. Small rates never leave the no-signal point."""

    ik_restarts: int = 3
    """Independent IK initialisations; the one with the best held-out weighted IK
    log-likelihood is kept (no reward is needed for this choice)."""

    ik_race_epochs: int = 0
    """Restart racing: with ``ik_restarts > 1`` and a value in [1, ik_epochs), every restart
    trains this many epochs, then only the one with the best held-out weighted IK likelihood
    continues to ``ik_epochs`` (``restarts * race + (epochs - race)`` epochs instead of
    ``restarts * epochs``). 0 trains every restart fully. While every restart is still at
    the no-signal point (held-out NLL within 0.01 of the weighted mean log K) the race is
    extended epoch by epoch, so a race never keeps a stuck restart when another may escape.
    Choose a race at least one epoch past ``ik_warmup_epochs``."""

    ik_init_scale: float = 1.0
    """Standard deviation of the user/feedback embedding initialisation."""

    ik_weight_decay: float = 1e-5
    """L2 penalty (Adam weight decay) of the IK classifier."""

    validation_fraction: float = 0.2
    """Fraction of training rows (the latest by time) used to select among IK restarts."""

    policy_user_dim: int = 0
    """Size of a user embedding the policy adds to the context (0 = context only)."""

    policy_epochs: int = 30
    """Full passes over the rows for the off-policy contextual bandit regression."""

    policy_batch_size: int = 4096
    """Mini-batch size of the policy regression."""

    policy_learning_rate: float = 0.01
    """Adam learning rate of the policy."""

    policy_weight_decay: float = 1e-5
    """L2 penalty of the policy."""

    policy_weighting: str = "importance"
    """Row weights of the off-policy regression: 'importance' uses the SQL job's ``weight``
    (1 / (K * propensity)), 'none' weighs rows equally."""

    exploration: str = "epsilon_greedy"
    """Exploration rule of predict_proba: 'epsilon_greedy', 'squarecb' or 'greedy'."""

    epsilon: float = 0.05
    """Exploration probability of epsilon-greedy."""

    gamma: float = 100.0
    """Learning-rate parameter gamma of SquareCB (Foster & Rakhlin, 2020)."""

    max_threads: int = 1
    """Upper bound on torch CPU threads used while fitting/predicting. 1 by default: the
    models are small, and on a shared, oversubscribed machine several OpenMP threads wait
    at barriers for descheduled siblings (measured 2-10x slower)."""

    seed: int = 0
    """Seed of every random choice (initialisation, shuffling, restarts)."""

    version: str = field(default=CONFIG_SCHEMA_VERSION)
    """Schema version of this configuration."""

    def __post_init__(self) -> None:
        _check(self.states in (2, 3), "states", "2 or 3", self.states, "2, 3")
        if isinstance(self.negative_signals, str) or not isinstance(
            self.negative_signals, tuple | list
        ):
            raise ValueError(
                "The 'negative_signals' parameter of IGLPConfig must be a tuple of feedback "
                f"signals. Got {self.negative_signals!r} instead."
            )
        object.__setattr__(self, "negative_signals", tuple(str(s) for s in self.negative_signals))
        _check(
            self.states == 3 or not self.negative_signals,
            "negative_signals",
            "empty when states == 2 (the oracle only exists for 3 latent states)",
            self.negative_signals,
        )
        _check(self.alpha > 0 and self.alpha <= 1e6, "alpha", "a float in (0, 1e6]", self.alpha)
        _check(
            self.states == 3 or self.alpha == 1.0,
            "alpha",
            "1.0 when states == 2 (alpha = 1 embeds 2-state IGL)",
            self.alpha,
        )
        _check(self.threshold > 0, "threshold", "> 0", self.threshold)
        for name in ("embedding_dim", "action_dim", "ik_epochs", "ik_batch_size",
                     "ik_restarts", "policy_epochs", "policy_batch_size", "max_threads"):
            value = getattr(self, name)
            _check(isinstance(value, int) and value >= 1, name, "an int >= 1", value)
        _check(isinstance(self.ik_warmup_epochs, int) and self.ik_warmup_epochs >= 0,
               "ik_warmup_epochs", "an int >= 0", self.ik_warmup_epochs)
        _check(isinstance(self.ik_race_epochs, int) and 0 <= self.ik_race_epochs < self.ik_epochs,
               "ik_race_epochs", f"an int in [0, ik_epochs = {self.ik_epochs})", self.ik_race_epochs)
        _check(isinstance(self.policy_user_dim, int) and self.policy_user_dim >= 0,
               "policy_user_dim", "an int >= 0", self.policy_user_dim)
        _check(isinstance(self.hidden_dim, int) and self.hidden_dim >= 0,
               "hidden_dim", "an int >= 0", self.hidden_dim)
        for name in ("ik_learning_rate", "policy_learning_rate", "ik_init_scale"):
            value = getattr(self, name)
            _check(value > 0, name, "a float > 0", value)
        for name in ("ik_weight_decay", "policy_weight_decay"):
            value = getattr(self, name)
            _check(value >= 0, name, "a float >= 0", value)
        _check(0 <= self.validation_fraction < 1, "validation_fraction", "in [0, 1)",
               self.validation_fraction)
        _check(self.policy_weighting in _POLICY_WEIGHTINGS, "policy_weighting",
               f"a str among {_POLICY_WEIGHTINGS}", self.policy_weighting)
        _check(self.exploration in _EXPLORATIONS, "exploration",
               f"a str among {_EXPLORATIONS}", self.exploration)
        _check(0 <= self.epsilon <= 1, "epsilon", "in [0, 1]", self.epsilon)
        _check(self.gamma > 0, "gamma", "> 0", self.gamma)
        _check(isinstance(self.seed, int) and self.seed >= 0, "seed", "an int >= 0", self.seed)
        _check(self.version == CONFIG_SCHEMA_VERSION, "version",
               f"{CONFIG_SCHEMA_VERSION!r}", self.version)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dictionary of every field (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["negative_signals"] = list(self.negative_signals)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IGLPConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(
                f"Unknown IGLPConfig field(s) {unknown}; valid fields: {sorted(names)}."
            )
        kwargs = dict(data)
        if "negative_signals" in kwargs:
            kwargs["negative_signals"] = tuple(kwargs["negative_signals"])
        return cls(**kwargs)
