"""Configuration of the IGL-P learner (:class:`offline_rl.igl.learner.IGLP`).

One frozen, keyword-only dataclass validated against its constraint table on construction
(:mod:`offline_rl.config`), with a JSON round trip carrying ``schema_version``. Every field's
docstring doubles as CLI help.
"""

from __future__ import annotations

from dataclasses import dataclass

from offline_rl.config import Boolean, Choice, Config, Integer, Optional, Real, Rule, Strings

_EXPLORATIONS = ("epsilon_greedy", "squarecb", "greedy")
_POLICY_WEIGHTINGS = ("importance", "none")


@dataclass(frozen=True, kw_only=True)
class IGLPConfig(Config):
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

    alpha: float | None = None
    """Negative labelling propensity alpha of Eq. (4); a definitely-negative extreme event
    is decoded as -1/alpha. None (default): 1 with 2 states (IGL-P(2)); with 3 states,
    estimated from the logs (Elkan & Noto's c among the extreme events, out of fold) and
    recorded as ``alpha_``."""

    threshold: float = 2.0
    """Extreme-event threshold of Eq. (3)-(4): r_hat = 0 when K * P_hat(a | x, y) <= threshold."""

    embedding_dim: int = 2
    """Size of the user and feedback embeddings of the IK model (2 in the paper's Fig. 2)."""

    user_prior_precision: float = 3.0
    """Precision of the Gaussian prior on each user's deviation from the population
    embedding (MAP: precision/2 * |d_u|^2 per user, in units of the summed log-likelihood).
    Larger: users shrink harder toward the population; 0: free per-user embeddings."""

    action_prior_precision: float = 100.0
    """Precision of the Gaussian prior on each action's free parameters (its embedding and
    per-state bias), which shrinks an action with few rows toward what its features predict
    (or toward nothing without features). In units of the summed log-likelihood."""

    action_dim: int = 8
    """Size of the action representation (per latent state in the IK model) of the IK model
    and the policy."""

    hidden_dim: int = 0
    """Width of the context MLP of the IK model and the policy (0 = linear in the
    standardised context)."""

    context_interaction: bool = True
    """Let the context shift the user representation that meets the feedback embedding
    (feedback may depend on the whole context, not only the user id)."""

    ik_epochs: int = 30
    """Most passes over its training rows one IK model makes (early stopping usually ends
    training sooner: ``ik_patience``)."""

    ik_patience: int = 3
    """Early stopping: an IK model stops once its inner-validation weighted NLL has not
    improved for this many epochs after the warm-up; its best epoch's weights are kept."""

    ik_warmup_epochs: int = 3
    """Epochs at the start of each IK restart during which the reward predictor sees the
    action only (not the context): the decoder first learns from how the action marginal
    shifts with the feedback, which pulls it off the no-signal saddle point."""

    ik_batch_size: int = 4096
    """Mini-batch size of the IK classifier (Adam)."""

    ik_learning_rate: float = 0.03
    """Adam learning rate of the IK classifier. Small rates never leave the no-signal point."""

    ik_restarts: int = 3
    """Most training attempts per IK model: a fresh initialisation is tried only while the
    previous ones stayed at the no-signal point on the inner validation rows; the best
    attempt by inner-validation likelihood is kept (no reward is needed for this choice)."""

    ik_init_scale: float = 1.0
    """Standard deviation of the user/feedback embedding initialisation."""

    ik_weight_decay: float = 1e-5
    """L2 penalty (Adam weight decay) of the IK classifier."""

    validation_fraction: float = 0.15
    """Share of each IK model's training rows (whole user-time blocks) held out as its
    inner validation set, for early stopping and restarts (0: judge on the training rows)."""

    crossfit_folds: int = 3
    """Cross-fitting folds: each training row is decoded by an IK model fitted on the other
    folds (never on the row); new rows by the mean of the fold models' P_hat."""

    crossfit_block_seconds: float = 3600.0
    """Rows of one user within one block of this many seconds (by ``ts``) go to the same
    fold: correlated rows stay together, a user's other blocks land in other folds."""

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

    CONSTRAINTS = {
        "states": Integer(2, 3),
        "negative_signals": Strings(),
        "alpha": Optional(Real(0.0, 1e6, low_open=True)),
        "threshold": Real(0.0, low_open=True),
        "embedding_dim": Integer(1),
        "user_prior_precision": Real(0.0),
        "action_prior_precision": Real(0.0),
        "action_dim": Integer(1),
        "hidden_dim": Integer(0),
        "context_interaction": Boolean(),
        "ik_epochs": Integer(1),
        "ik_patience": Integer(1),
        "ik_warmup_epochs": Integer(0),
        "ik_batch_size": Integer(1),
        "ik_learning_rate": Real(0.0, low_open=True),
        "ik_restarts": Integer(1),
        "ik_init_scale": Real(0.0, low_open=True),
        "ik_weight_decay": Real(0.0),
        "validation_fraction": Real(0.0, 1.0, high_open=True),
        "crossfit_folds": Integer(2),
        "crossfit_block_seconds": Real(0.0, low_open=True),
        "policy_user_dim": Integer(0),
        "policy_epochs": Integer(1),
        "policy_batch_size": Integer(1),
        "policy_learning_rate": Real(0.0, low_open=True),
        "policy_weight_decay": Real(0.0),
        "policy_weighting": Choice(_POLICY_WEIGHTINGS),
        "exploration": Choice(_EXPLORATIONS),
        "epsilon": Real(0.0, 1.0),
        "gamma": Real(0.0, low_open=True),
        "max_threads": Integer(1),
        "seed": Integer(0),
    }
    RULES = (
        Rule("negative_signals",
             "non-empty when states == 3 (the definitely-negative oracle, e.g. ('dislike',))",
             lambda c: c.states == 2 or bool(c.negative_signals)),
        Rule("negative_signals",
             "empty when states == 2 (the oracle only exists for 3 latent states)",
             lambda c: c.states == 3 or not c.negative_signals),
        Rule("alpha", "None or 1.0 when states == 2 (alpha = 1 embeds 2-state IGL)",
             lambda c: c.states == 3 or c.alpha in (None, 1.0)),
    )
