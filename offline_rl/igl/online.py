"""The on-policy loop of Algorithm 1 against a simulator environment (IGL-P in simulation).

Per round t (processed in mini-batches of ``batch_rounds`` rounds for speed; every round of
a batch is played with the policy as it stood when the batch started):

1. observe x_t and A_t (``env.sample_rounds``); P(. | x_t) <- pi.predict(x_t, A_t) with the
   configured exploration rule (epsilon-greedy or SquareCB);
2. play a_t ~ P(. | x_t), observe the feedback y_t (``env.feedback``; the latent reward is
   drawn by the environment for the feedback and never shown to the learner);
3. w_t <- 1 / (K_t P(a_t | x_t))  (synthetic uniform distribution);
4. P_hat(a_t | y_t, x_t) <- IK.predict; r_hat_t <- Eq. (4);
5. pi.learn(x_t, a_t, A_t, r_hat_t) and IK.learn((x_t, y_t), A_t, a_t, w_t): a few Adam
   steps of each model (optimiser state carried across batches) on mini-batches drawn from
   a replay of every round seen so far (each round keeps the r_hat decoded when it was
   played, as in Algorithm 1). Replay is our addition: with single-pass updates the IK
   classifier does not leave its no-signal starting point within a simulation budget.

References
----------
Maghakian et al., ICLR 2023, Algorithm 1 (On-Policy IGL branch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import torch

from offline_rl.igl.batch import Batch, Vocabulary
from offline_rl.igl.decoder import decode_rewards, definitely_negative
from offline_rl.igl.ik_model import (
    IKNet,
    batch_tensors,
    ik_net,
    ik_probabilities,
    optimisers,
    user_weight_shares,
)
from offline_rl.igl.policy import PolicyNet, exploration_probabilities, policy_net, policy_scores


@dataclass(frozen=True, eq=False)
class OnlineRun:
    """What :func:`fit_online` learned: the vocabularies of the probe rounds, the context
    width, the action features, both networks and the per-batch traces.
    :meth:`IGLP.fit_online <offline_rl.igl.learner.IGLP.fit_online>` makes a fitted learner of it."""

    users: Vocabulary
    feedback: Vocabulary
    actions: Vocabulary
    context_dim: int
    action_features: np.ndarray
    ik_model: IKNet
    policy_model: PolicyNet
    traces: dict[str, list[float]]


def _rounds_batch(vocabularies: dict[str, Vocabulary], rounds, actions_index: np.ndarray | None,
                  feedback) -> Batch:
    mask = rounds.mask
    raw = np.where(mask, rounds.candidate_actions, -1)
    flat = pl.Series(raw[mask], dtype=pl.Int64)
    index = np.zeros(raw.shape, dtype=np.int64)
    index[mask] = vocabularies["actions"].index(flat)
    n = len(rounds)
    fb = (vocabularies["feedback"].index(pl.Series(list(feedback), dtype=pl.String))
          if feedback is not None else np.zeros(n, dtype=np.int64))
    return Batch(
        user=vocabularies["users"].index(pl.Series(np.asarray(rounds.user_id), dtype=pl.Int64)),
        feedback=fb,
        context=np.asarray(rounds.context, dtype=np.float32),
        candidates=index,
        mask=mask,
        num_candidates=np.asarray(rounds.num_candidates, dtype=np.int64),
        action_index=(actions_index if actions_index is not None
                      else np.zeros(n, dtype=np.int64)),
        weight=np.ones(n, dtype=np.float32),
    )


def _step(steps: list[torch.optim.Optimizer], loss: torch.Tensor) -> None:
    for optimiser in steps:
        optimiser.zero_grad(set_to_none=True)
    loss.backward()
    for optimiser in steps:
        optimiser.step()


def _pad_cat(arrays: list[np.ndarray]) -> np.ndarray:
    """Concatenate along rows, padding 2-D candidate arrays to the widest K."""
    if arrays[0].ndim == 2 and arrays[0].dtype != np.float32:
        width = max(a.shape[1] for a in arrays)
        fill = False if arrays[0].dtype == bool else 0
        arrays = [np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=fill)
                  for a in arrays]
    return np.concatenate(arrays)


def fit_online(
    config,
    env,
    *,
    rounds: int,
    batch_rounds: int = 500,
    steps_per_batch: int = 4,
    probe_rounds: int = 5000,
    replay_batch: int = 4096,
    seed: int = 0,
    alpha: float = 1.0,
) -> OnlineRun:
    """Run Algorithm 1 on-policy for ``rounds`` rounds with the settings of ``config``
    (an ``IGLPConfig``) and the negative labelling propensity ``alpha``.

    The IK objective is the one of the batch fit: importance-weighted NLL plus the prior on
    the user deviations (spread over each user's rounds in the replay).

    The traces hold, per batch, the mean decoded reward, the mean latent reward of the played
    actions (for the record only: the simulator knows it, the learner never sees it) and the
    IK loss of the last update.
    """
    cfg = config
    rng = np.random.default_rng([seed, 17])
    probe = env.sample_rounds(probe_rounds, rng)
    vocabularies = {
        "users": Vocabulary.of(np.unique(probe.user_id).tolist()),
        "feedback": Vocabulary.of(sorted(env.vocabulary)),
        "actions": Vocabulary.of(np.unique(probe.candidate_actions[probe.mask]).tolist()),
    }
    context_dim = int(probe.context.shape[1])
    features = getattr(env, "item_features", None)
    if features is None:
        features = getattr(env, "post_features", None)
    if features is not None:
        ids = vocabularies["actions"].ids.to_numpy().astype(np.int64)
        action_features = np.zeros((vocabularies["actions"].size, features.shape[1]),
                                   dtype=np.float32)
        action_features[1:] = features[ids]
    else:
        action_features = np.zeros((vocabularies["actions"].size, 0), dtype=np.float32)
    sizes = {"num_users": vocabularies["users"].size, "num_actions": vocabularies["actions"].size,
             "context_dim": context_dim, "action_features": action_features}
    torch.manual_seed(cfg.seed * 1000)
    ik = ik_net(cfg, **sizes, num_feedback=vocabularies["feedback"].size)
    policy = policy_net(cfg, **sizes)
    ik.context.set_scaling(np.asarray(probe.context, dtype=np.float32))
    policy.context.set_scaling(np.asarray(probe.context, dtype=np.float32))
    ik_steps = optimisers(ik, learning_rate=cfg.ik_learning_rate, weight_decay=cfg.ik_weight_decay)
    policy_steps = optimisers(policy, learning_rate=cfg.policy_learning_rate,
                              weight_decay=cfg.policy_weight_decay)
    traces: dict[str, list[float]] = {"decoded_reward": [], "latent_reward": [], "ik_nll": []}
    history: list[Batch] = []
    decoded: list[np.ndarray] = []
    done = 0
    batch_number = 0
    while done < rounds:
        n = min(batch_rounds, rounds - done)
        batch_rounds_ = env.sample_rounds(n, rng)
        empty = _rounds_batch(vocabularies, batch_rounds_, None, None)
        probs = exploration_probabilities(
            policy_scores(policy, empty), empty.mask, rule=cfg.exploration,
            epsilon=cfg.epsilon, gamma=cfg.gamma,
        )
        cumulative = probs.cumsum(axis=1)
        column = (rng.random(n)[:, None] > cumulative).sum(axis=1)
        column = np.minimum(column, batch_rounds_.num_candidates - 1)
        actions = batch_rounds_.candidate_actions[np.arange(n), column]
        latent = env.latent_reward(batch_rounds_, actions)  # the environment's, not ours
        feedback = env.feedback(batch_rounds_, actions, latent, rng)
        batch = _rounds_batch(vocabularies, batch_rounds_, column, feedback)
        propensity = probs[np.arange(n), column]
        weight = (1.0 / (batch.num_candidates * propensity)).astype(np.float32)
        batch = Batch(**{**batch.__dict__, "weight": weight})
        # IK is updated after decoding (Algorithm 1: decode with the current IK, then learn)
        in_warmup = batch_number < 4 * cfg.ik_warmup_epochs  # a few batches per "epoch"
        ik.use_context = not in_warmup
        p = ik_probabilities(ik, batch)[np.arange(n), column]
        negative = definitely_negative(np.asarray(feedback, dtype=object), cfg.negative_signals)
        r_hat = decode_rewards(batch.num_candidates * p, negative, alpha=alpha,
                               threshold=cfg.threshold)
        ik.mark_known(batch.user, batch.feedback)
        history.append(batch)
        decoded.append(r_hat)
        if len(history) > 1:
            stacked = Batch(**{
                name: _pad_cat([getattr(b, name) for b in history])
                for name in Batch.__dataclass_fields__ if name != "log_prior"
            })
            all_r = np.concatenate(decoded)
        else:
            stacked, all_r = batch, r_hat
        shares = user_weight_shares(stacked)
        total = len(stacked)
        for _ in range(steps_per_batch):
            rows = rng.integers(0, total, min(total, replay_batch))
            t = batch_tensors(stacked, rows)
            r = torch.as_tensor(all_r[rows], dtype=torch.float32)
            w = t["weight"] if cfg.policy_weighting == "importance" else torch.ones(len(rows))
            policy.train()
            scores = policy(t["user"], t["x"], t["candidates"], t["mask"])
            pred = scores.gather(1, t["target"].unsqueeze(1)).squeeze(1)
            loss = (w * (pred - r) ** 2).sum() / w.sum().clamp_min(1e-12)
            _step(policy_steps, loss)
            ik.train()
            logp = ik(t["user"], t["feedback"], t["x"], t["candidates"], t["mask"])
            nll = -logp.gather(1, t["target"].unsqueeze(1)).squeeze(1)
            prior = (cfg.user_prior_precision * ik.users.penalty(t["user"])
                     * torch.as_tensor(shares[rows]))
            ik_loss = (t["weight"] * (nll + prior)).sum() / t["weight"].sum().clamp_min(1e-12)
            _step(ik_steps, ik_loss)
        ik.use_context = True
        traces["decoded_reward"].append(float(r_hat.mean()))
        traces["latent_reward"].append(float(latent.mean()))
        traces["ik_nll"].append(float(ik_loss.detach()))
        done += n
        batch_number += 1
    ik.eval()
    policy.eval()
    return OnlineRun(
        users=vocabularies["users"], feedback=vocabularies["feedback"],
        actions=vocabularies["actions"],
        context_dim=context_dim, action_features=action_features, ik_model=ik,
        policy_model=policy, traces=traces,
    )
