"""QR-IQL: distributional inverse soft-Q learning of users' mental rewards (MTRec, sec. 4).

``QRIQL(QRIQLConfig(quantiles=10)).fit(trajectories).mental_rewards(trajectories)`` learns a
quantile Q-network from the ``user_trajectories`` table (s, a, s', done) and returns
``r*(s, a) = Q(s, a) - gamma V(s')`` (Eq. 7) per logged step. ``quantiles=1`` is plain
IQ-Learn, the paper's "-IRL" baseline, through the same code path.
"""

from offline_rl.qriql.config import QRIQLConfig
from offline_rl.qriql.learner import MENTAL_REWARD_COLUMNS, QRIQL

__all__ = ["MENTAL_REWARD_COLUMNS", "QRIQL", "QRIQLConfig"]
