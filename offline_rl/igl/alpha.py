"""The negative labelling propensity alpha of Eq. (4), estimated from the logs.

The paper reduces the disambiguation of extreme events to positive-unlabelled learning on
the extreme events: among them, r = -1 is the "positive" class, and the definitely-negative
oracle labels some of its members (never an r = +1 event: P(DN = -1 | r = 1) = 0). Labels
are assumed "selected completely at random" (Elkan & Noto, 2008) with constant propensity
alpha = P(DN | r = -1, extreme), which the paper treats as a hyperparameter. Elkan & Noto
show that alpha can be estimated from the data: a classifier g(x, a) of labelled vs
unlabelled trained on the same population satisfies g = alpha * P(r = -1 | x, a), so on
labelled examples, where P(r = -1 | x, a) is close to 1 for a well-separated class,

    alpha_hat = mean of g(x, a) over labelled examples        (their estimator e1)

computed on examples the classifier did not train on. Here the population is the extreme
events (K * P_hat > threshold, decoded out of fold), the label is DN(x, y), the classifier
is the policy's model class (:class:`~offline_rl.igl.policy.PolicyNet` scoring the logged
(x, a), logistic loss, importance weights), cross-fitted on the IK folds so every labelled
event is scored by a classifier that did not see it, and every mean is importance-weighted
(the decoded rewards are used under the synthetic uniform distribution).

Where P(r = -1 | x, a) < 1 on labelled events, e1 is biased low (Elkan & Noto, Section 3);
a lower alpha makes a definitely-negative event cost more (-1/alpha), so the bias errs on
the side of avoiding what users flag. The estimate is clipped to [:data:`MIN_ALPHA`, 1].
With fewer than :data:`MIN_LABELLED` labelled extreme events there is nothing to estimate
from and alpha = 1 (no negative extreme events worth weighting).

References
----------
Elkan & Noto, "Learning classifiers from only positive and unlabeled data", KDD 2008,
Section 2 (estimator e1); Maghakian et al., ICLR 2023, Eq. (4); Bekker & Davis (2020).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from offline_rl.igl.batch import Batch
from offline_rl.igl.folds import CrossFitFolds
from offline_rl.igl.ik_model import minibatches, optimisers
from offline_rl.igl.policy import policy_scores

#: Fewer labelled extreme events than this: alpha is not estimated (1 is used).
MIN_LABELLED = 20
#: The estimate is clipped from below (a definitely-negative event then decodes to -20).
MIN_ALPHA = 0.05
#: Passes of the labelled-vs-unlabelled classifier over its (extreme-event) rows.
CLASSIFIER_EPOCHS = 10


@dataclass(frozen=True)
class AlphaEstimate:
    """The estimate, what it was computed from, and the raw (unclipped) value."""

    alpha: float
    raw: float
    extreme_rows: int
    labelled_rows: int


def estimate_alpha(config, batch: Batch, extreme: np.ndarray, labelled: np.ndarray,
                   folds: CrossFitFolds, make_net, *,
                   device: torch.device | str = "cpu") -> AlphaEstimate:
    """Elkan & Noto's e1 among the extreme events (module docstring).

    ``extreme`` and ``labelled`` are per-row masks of ``batch`` (out-of-fold extreme events;
    the oracle DN); ``make_net()`` builds a fresh :class:`PolicyNet` (seeded here).
    """
    rows = np.flatnonzero(extreme)
    n_labelled = int((extreme & labelled).sum())
    if n_labelled < MIN_LABELLED:
        return AlphaEstimate(1.0, float("nan"), int(rows.size), n_labelled)
    scores = np.full(len(batch), np.nan)
    for fold in range(folds.n_folds):
        train = rows[folds.fold[rows] != fold]
        scored = rows[(folds.fold[rows] == fold) & labelled[rows]]
        if scored.size == 0 or train.size == 0:
            continue
        torch.manual_seed(config.seed * 1000 + 500 + fold)
        net = make_net()
        _train_classifier(config, net, batch.take(train), labelled[train].astype(np.float32),
                          seed=config.seed * 1000 + 500 + fold, device=device)
        part = batch.take(scored)
        logits = policy_scores(net, part)[np.arange(scored.size), part.action_index]
        scores[scored] = 1.0 / (1.0 + np.exp(-logits))
    chosen = np.flatnonzero(~np.isnan(scores))
    if chosen.size == 0:
        return AlphaEstimate(1.0, float("nan"), int(rows.size), n_labelled)
    weight = batch.weight[chosen].astype(np.float64)
    raw = float((weight * scores[chosen]).sum() / max(weight.sum(), 1e-12))
    return AlphaEstimate(float(np.clip(raw, MIN_ALPHA, 1.0)), raw, int(rows.size), n_labelled)


def _train_classifier(config, net, batch: Batch, label: np.ndarray, *, seed: int,
                      device) -> None:
    """Importance-weighted logistic regression of ``label`` on the score of the logged (x, a)."""
    rng = np.random.default_rng(seed)
    net.context.set_scaling(batch.context)
    net.to(device)
    steps = optimisers(net, learning_rate=config.policy_learning_rate,
                       weight_decay=config.policy_weight_decay)
    size = config.policy_batch_size
    for _ in range(CLASSIFIER_EPOCHS):
        net.train()
        order = rng.permutation(len(batch))
        for start, t in zip(range(0, len(batch), size),
                            minibatches(batch, order, size, device=device), strict=True):
            y = torch.as_tensor(label[order[start:start + size]], device=device)
            logit = net(t["user"], t["x"], t["candidates"], t["mask"]).gather(
                1, t["target"].unsqueeze(1)).squeeze(1)
            w = t["weight"]
            loss = (w * torch.nn.functional.binary_cross_entropy_with_logits(
                logit, y, reduction="none")).sum() / w.sum().clamp_min(1e-12)
            for optimiser in steps:
                optimiser.zero_grad(set_to_none=True)
            loss.backward()
            for optimiser in steps:
                optimiser.step()
    net.eval()
