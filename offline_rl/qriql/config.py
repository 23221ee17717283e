"""Configuration of the QR-IQL learner (:class:`offline_rl.qriql.learner.QRIQL`).

One frozen, keyword-only dataclass validated against its constraint table on construction
(:mod:`offline_rl.config`), with a JSON round trip carrying ``schema_version``. Each field's
docstring doubles as CLI help.
"""

from __future__ import annotations

from dataclasses import dataclass

from offline_rl.config import Boolean, Choice, Config, Integer, Optional, Real, Rule
from offline_rl.qriql.features import VALIDATION_UNITS
from offline_rl.runtime import DEVICE_CHOICES


@dataclass(frozen=True, kw_only=True)
class QRIQLConfig(Config):
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

    validation_fraction: float = 0.0
    """Share of users (or sessions, see validation_unit) held out of training to measure the
    held-out loss, early-stop on it and keep the best weights; 0 trains on every row. A unit
    is held out by a seeded hash of its key, never row by row (docs/qriql.md, "Training")."""

    validation_unit: str = "user"
    """What the validation split holds out whole: 'user' (every row of a user) or 'session'."""

    validation_every: int = 50
    """Steps between two evaluations of the held-out loss (and after the last step)."""

    patience: int | None = None
    """Stop after this many evaluations without a lower held-out loss; None trains every step.
    Either way a fit with a validation split ends with the weights of its best evaluation."""

    stream_buffer_rows: int = 65536
    """Rows a fit streamed from Parquet shuffles together (whole row groups are read until the
    buffer holds this many); bounds its memory. Unused for in-memory frames."""

    device: str = "auto"
    """'cuda' (the local rank's GPU), 'cpu', or 'auto' (CUDA when available)."""

    max_threads: int | None = None
    """Torch CPU threads while fitting and predicting; None: OMP_NUM_THREADS if set, else
    min(4, cores - 1), at least 1 (one thread on a 2-core machine, where two ran 4-20x slower
    under load; docs/scale.md). The same seed gives the same bits for the same thread count."""

    seed: int = 0
    """Seed of initialisation, mini-batch sampling and the validation split."""

    CONSTRAINTS = {
        "quantiles": Integer(1),
        "alpha": Real(0.0, low_open=True),
        "gamma": Real(0.0, 1.0, high_open=True),
        "temperature": Real(0.0, low_open=True),
        "terminal_value": Choice(("zero", "learned")),
        "huber_kappa": Real(0.0),
        "n_actions": Integer(2),
        "embedding_dim": Integer(1),
        "hidden_dim": Integer(1),
        "use_context": Boolean(),
        "max_position": Integer(1),
        "steps": Integer(1),
        "epochs": Optional(Integer(1)),
        "batch_size": Integer(1),
        "learning_rate": Real(0.0, low_open=True),
        "weight_decay": Real(0.0),
        "validation_fraction": Real(0.0, 1.0, high_open=True),
        "validation_unit": Choice(tuple(VALIDATION_UNITS)),
        "validation_every": Integer(1),
        "patience": Optional(Integer(1)),
        "stream_buffer_rows": Integer(1),
        "device": Choice(DEVICE_CHOICES),
        "max_threads": Optional(Integer(1)),
        "seed": Integer(0),
    }

    RULES = (
        Rule("patience", "None when validation_fraction == 0 (early stopping needs held-out rows)",
             lambda c: c.patience is None or c.validation_fraction > 0),
    )

    @property
    def is_iq_learn(self) -> bool:
        """True for the non-distributional IQ-Learn baseline (N = 1)."""
        return self.quantiles == 1
