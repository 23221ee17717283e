"""MTRec alignment (mtrec-paper.txt sec. 4.3, Eq. 8-12).

* :mod:`offline_rl.mtrec.data` -- one shared CTR input format (user, history, candidate item,
  category, label) built from ``user_trajectories``-shaped frames, plus the mental rewards.
* :mod:`offline_rl.mtrec.backbones` -- Wide&Deep, DeepFM, PNN, DIN, DIEN and SASRec in torch.
* :mod:`offline_rl.mtrec.classifier` -- ``MTRecClassifier(config).fit(frame, rewards)`` with
  ``L = CE + kappa L_align`` (Eq. 10); kappa = 0 is the plain backbone.
* :mod:`offline_rl.mtrec.policy_gradient` -- a REINFORCE recommender on the sessions simulator
  with ``r_env + kappa r_mental`` (Eq. 12).
"""

from offline_rl.mtrec.backbones import BACKBONES
from offline_rl.mtrec.classifier import MTRecClassifier, MTRecConfig

__all__ = ["BACKBONES", "MTRecClassifier", "MTRecConfig"]
