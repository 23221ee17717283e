"""Configuration of the QR-IQL learner (:class:`offline_rl.qriql.learner.QRIQL`).

A frozen, keyword-only dataclass validated on construction, with a JSON round trip carrying a
schema version. Each field's docstring doubles as CLI help.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CONFIG_SCHEMA_VERSION = "1"


def _check(condition: bool, name: str, rule: str, value: Any) -> None:
    if not condition:
        raise ValueError(
            f"The {name!r} parameter of QRIQLConfig must be {rule}. Got {value!r} instead."
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


@dataclass(frozen=True, kw_only=True)
class QRIQLConfig:
    """Hyperparameters of QR-IQL (MTRec Problem 6, Appendix A.2, Algorithm 1).

    References
    ----------
    MTRec (mtrec-paper.txt), sec. 4.2.2, Eq. (6)-(7), Appendix A.2-A.3; Garg et al. (2021),
    IQ-Learn.
    """

    quantiles: int = 10
    """N, the number of quantile heads per action (paper: 10). 1 gives plain IQ-Learn."""

    alpha: float = 0.5
    """Weight alpha of the chi^2 regulariser psi(x) = x - x^2 / (4 alpha) (paper: 0.5)."""

    gamma: float = 0.9
    """Discount gamma of the user MDP (the paper does not state its value)."""

    temperature: float = 1.0
    """Temperature T of the soft value V(s) = T logsumexp_a(Q(s, a) / T)."""

    terminal_value: str = "zero"
    """Value V(s') of the end of a session: 'zero' (IQ-Learn's convention, Eq. 7 with
    V(s') = 0 at done steps) or 'learned' (an absorbing state whose value is learned)."""

    huber_kappa: float = 0.0
    """0 uses the pinball loss of Algorithm 1; > 0 the quantile-Huber loss with this threshold."""

    n_actions: int = 2
    """|A|, the number of user responses (0 = negative, 1 = positive, more if the map has them)."""

    embedding_dim: int = 16
    """Size of the item, category, response and position embeddings."""

    hidden_dim: int = 64
    """Width of the two hidden layers of the Q-network."""

    use_context: bool = True
    """Feed the trajectory's ``context`` vector (user features) into the state."""

    max_position: int = 50
    """Step positions >= this share one position embedding."""

    steps: int = 500
    """Adam steps (mini-batches) of Algorithm 1 (ignored when ``epochs`` is set). Many passes
    over a small table overfit (docs/qriql.md); prefer ``epochs`` around 20-30 there."""

    epochs: int | None = None
    """If set, train for ceil(epochs * rows / batch_size) steps instead of ``steps``."""

    batch_size: int = 4000
    """Mini-batch size (paper: 4000); capped at the number of rows."""

    learning_rate: float = 3e-3
    """Adam learning rate."""

    weight_decay: float = 1e-5
    """Adam L2 penalty."""

    max_threads: int = 1
    """Upper bound on torch CPU threads while fitting and predicting. 1 by default: on a
    shared, oversubscribed CPU two threads ran 30-80x slower (benchmarks/bench_qriql.py)."""

    seed: int = 0
    """Seed of initialisation and mini-batch sampling."""

    version: str = field(default=CONFIG_SCHEMA_VERSION)
    """Schema version of this configuration."""

    def __post_init__(self) -> None:
        for name, minimum in (
            ("quantiles", 1), ("n_actions", 2), ("embedding_dim", 1), ("hidden_dim", 1),
            ("max_position", 1), ("steps", 1), ("batch_size", 1), ("max_threads", 1),
        ):
            value = getattr(self, name)
            _check(_is_int(value) and value >= minimum, name, f"an int >= {minimum}", value)
        _check(self.epochs is None or (_is_int(self.epochs) and self.epochs >= 1), "epochs",
               "None or an int >= 1", self.epochs)
        _check(_is_real(self.alpha) and self.alpha > 0, "alpha", "a float > 0", self.alpha)
        _check(_is_real(self.gamma) and 0 <= self.gamma < 1, "gamma", "a float in [0, 1)",
               self.gamma)
        _check(_is_real(self.temperature) and self.temperature > 0, "temperature",
               "a float > 0", self.temperature)
        _check(_is_real(self.huber_kappa) and self.huber_kappa >= 0, "huber_kappa",
               "a float >= 0 (0 = pinball loss)", self.huber_kappa)
        _check(_is_real(self.learning_rate) and self.learning_rate > 0, "learning_rate",
               "a float > 0", self.learning_rate)
        _check(_is_real(self.weight_decay) and self.weight_decay >= 0, "weight_decay",
               "a float >= 0", self.weight_decay)
        _check(self.terminal_value in ("zero", "learned"), "terminal_value",
               "a str among ('zero', 'learned')", self.terminal_value)
        _check(isinstance(self.use_context, bool), "use_context", "a bool", self.use_context)
        _check(_is_int(self.seed) and self.seed >= 0, "seed", "an int >= 0", self.seed)
        _check(self.version == CONFIG_SCHEMA_VERSION, "version",
               repr(CONFIG_SCHEMA_VERSION), self.version)

    @property
    def is_iq_learn(self) -> bool:
        """True for the non-distributional IQ-Learn baseline (N = 1)."""
        return self.quantiles == 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dictionary of every field, with the schema ``version``."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QRIQLConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(
                f"Unknown QRIQLConfig field(s) {unknown}; valid fields: {sorted(names)}."
            )
        return cls(**dict(data))
