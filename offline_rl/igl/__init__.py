"""IGL-P: personalized interaction-grounded learning (2 or 3 latent states), in torch.

Public API: :class:`IGLP` (``IGLP(config).fit(ik_training_set_frame)``), :class:`IGLPConfig`,
:class:`RewardBandit`, and the Eq. (4) decoder functions. See docs/igl.md.
"""

from offline_rl.igl.bandit import RewardBandit
from offline_rl.igl.config import IGLPConfig
from offline_rl.igl.decoder import decode_rewards, definitely_negative, extreme_events
from offline_rl.igl.learner import IGLP

__all__ = [
    "IGLP",
    "IGLPConfig",
    "RewardBandit",
    "decode_rewards",
    "definitely_negative",
    "extreme_events",
]
