"""The inverse-kinematics (IK) classifier P_hat(a | x, y, A) as a torch module.

A latent-state mixture that is Eq. (2) with the synthetic uniform prior (importance
weights make P(a | x) = 1/K over the row's candidate set A):

    P_hat(a | x, y, A) = sum_s g_s(u, x, y) * rho_s(x, a) / sum_{a' in A} rho_s(x, a')

    g(u, x, y)   = softmax(W q + b),  q = (e(u) + C x) * e_feedback[y]          (size E)
    e(u)         = e_population + d_u,  d_u ~ N(0, I / user_prior_precision)
    rho_s(x, a)  = softmax_s(<phi_s(x), psi_s(a)>),  psi(a) = e_action[a] + B f(a)

g is the reward decoder P(r | y, x) and rho the reward predictor P(r | a, x) of Eq. (2),
s ranges over S = 2 or 3 latent states. q is the user x feedback interaction; it lets the
same word mean "reward" for one user and "no reward" for another (y independent of a given
x and r, but not of x). Action features f(a) (optional) and masking let candidate sets vary
per row. Because each latent state's term is a proper distribution over A, a row whose
feedback is decoded as "no reward" can never put more than 1/(K-1) on an action when a
single action is rewarding, which keeps K * P_hat <= 2 there (few false extreme events).

**The user representation shares strength** (:class:`UserRepresentation`): a population
embedding learnt from every row plus a per-user deviation d_u with a Gaussian prior, fitted
by maximum a posteriori: the training objective adds ``user_prior_precision / 2 * |d_u|^2``
once per user (spread over the user's rows, so it is paid in full whatever the batches). A
user with one event barely moves from the population (one row's likelihood against the
prior); a user with a thousand events gets their own reading. Deviations start at zero and
are read through a sparse embedding updated row-wise (:class:`torch.optim.SparseAdam`), so a
training step costs the same with a thousand users or five million. An id never seen in
training (index 0) decodes through the population embedding alone.

**An unseen feedback signal carries no information**: by Eq. (2), if y says nothing about r
then P(r | y, x) = P(r | x) and P(a | y, x) = P(a | x) sum_r P(r | a, x) = P(a | x) = 1/K
under the synthetic uniform distribution, so ``K * P_hat = 1`` and Eq. (4) decodes r_hat = 0.
:class:`IKNet` returns exactly that for the unknown-signal index, whatever its parameters.

Training (:class:`IKTrainer`): importance-weighted maximum likelihood with weights
w = 1/(K P(a|x)) (Algorithm 1, lines 10 and 19), large-minibatch Adam on the dense
parameters and SparseAdam on the user deviations, mini-batches built from the numpy arrays
one at a time on the trainer's ``device``. Early stopping, restarts and cross-fitting are in
:mod:`offline_rl.igl.crossfit`.

References
----------
Maghakian et al., ICLR 2023, Eq. (2) and Algorithm 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from offline_rl.igl.batch import NEG_INF, UNKNOWN, Batch


class ContextEncoder(nn.Module):
    """Standardise x (fitted mean/std buffers) then an optional one-hidden-layer MLP."""

    def __init__(self, context_dim: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(context_dim))
        self.register_buffer("std", torch.ones(context_dim))
        self.context_dim = context_dim
        if context_dim == 0:
            self.bias = nn.Parameter(torch.zeros(out_dim))
            self.net = None
        elif hidden_dim > 0:
            self.net = nn.Sequential(
                nn.Linear(context_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim)
            )
        else:
            self.net = nn.Linear(context_dim, out_dim)

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.net is None:
            return self.bias.expand(x.shape[0], -1)
        return self.net(self.standardise(x))

    def set_scaling(
        self, context: np.ndarray, moments: tuple[np.ndarray, np.ndarray] | None = None
    ) -> None:
        """Standardise with ``context``'s column moments (or ``moments`` computed from it)."""
        if self.context_dim == 0 or context.shape[0] == 0:
            return
        mean, std = moments if moments is not None else context_moments(context)
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.std.copy_(torch.as_tensor(std, dtype=torch.float32))


def context_moments(context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and standard deviation (1 where a column is constant), in float64.

    Two passes over the float32 array with float64 accumulation (``einsum`` for the squares,
    no float64 copy of the data): 34 ms at 320,000 x 54 where ``np.std(dtype=float64)`` took
    52 ms and torch 186 ms (measured 2026-11-22, 1 thread).
    """
    mean = context.mean(axis=0, dtype=np.float64)
    centred = context - mean.astype(context.dtype)
    var = np.einsum("ij,ij->j", centred, centred, dtype=np.float64) / context.shape[0]
    std = np.sqrt(var)
    return mean, np.where(std < 1e-6, 1.0, std)


class ActionEncoder(nn.Module):
    """psi(a) = e_action[a] + B f(a); f(a) stored as a buffer (zero columns when absent).

    :meth:`forward` computes psi once per distinct action of the batch and gathers it for
    every candidate (a batch of 4096 rows x 20 candidates holds a few hundred distinct
    items: projecting the features of 80,000 candidate slots would repeat that work).
    """

    def __init__(
        self, num_actions: int, action_features: np.ndarray, out_dim: int, init_std: float = 0.1
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_actions, out_dim)
        nn.init.normal_(self.embedding.weight, std=init_std)
        self.register_buffer("features", torch.as_tensor(action_features, dtype=torch.float32))
        feature_dim = action_features.shape[1]
        self.project = nn.Linear(feature_dim, out_dim, bias=False) if feature_dim else None

    def encode(self, actions: torch.Tensor) -> torch.Tensor:
        """psi of each action index in ``actions`` (any shape), (..., out_dim)."""
        out = self.embedding(actions)
        if self.project is not None:
            out = out + self.project(self.features[actions])
        return out

    def forward(self, candidates: torch.Tensor) -> torch.Tensor:
        distinct, inverse = torch.unique(candidates, return_inverse=True)
        return self.encode(distinct)[inverse]


class UserRepresentation(nn.Module):
    """e(u) = e_population + d_u: a population embedding learnt from every row plus a per-user
    deviation with a Gaussian prior, N(0, I / user_prior_precision), fitted by MAP.

    ``deviation`` is a sparse embedding (its gradient holds the batch's rows only), so a
    training step costs the same with a thousand users or five million. It starts small and
    random (``DEVIATION_INIT`` x the embedding scale): at exactly zero every user would read
    every signal alike, and where users disagree (one user's "reward" word is another's "no
    reward") that population reading carries no signal to climb out of the no-signal point.
    Only users this model trained on (``known``) use their deviation; any other id, the
    unknown index 0 included, reads as the population. :meth:`penalty` is the prior's
    negative log-density per row, ``|d_u|^2 / 2``, which the trainer scales by the prior
    precision and spreads over the user's rows (paid once per user per pass).
    """

    def __init__(self, num_users: int, dim: int, init_scale: float) -> None:
        super().__init__()
        self.population = nn.Parameter(torch.randn(dim) * init_scale)
        self.deviation = nn.Embedding(num_users, dim, sparse=True)
        nn.init.normal_(self.deviation.weight, std=DEVIATION_INIT * init_scale)
        self.register_buffer("known", torch.zeros(num_users, dtype=torch.bool))

    def deviations(self, user: torch.Tensor) -> torch.Tensor:
        """d_u per row, (n, E); exactly zero for a user this model did not train on."""
        return self.deviation(user) * self.known[user].unsqueeze(-1).to(self.population.dtype)

    def forward(self, user: torch.Tensor) -> torch.Tensor:
        return self.population + self.deviations(user)

    def penalty(self, user: torch.Tensor) -> torch.Tensor:
        """|d_u|^2 / 2 per row, (n,)."""
        return 0.5 * self.deviations(user).pow(2).sum(-1)

    def table(self) -> torch.Tensor:
        """e(u) for every vocabulary row (unknown and untrained ids: the population)."""
        with torch.no_grad():
            return self.population + self.deviation.weight * self.known.unsqueeze(-1).to(
                self.population.dtype)


#: Standard deviation of the initial user deviations, relative to ``ik_init_scale``.
DEVIATION_INIT = 0.3


class IKNet(nn.Module):
    """Torch module computing masked log P_hat(a | x, y, A) over each row's candidates.

    Eq. (2) as a latent-state model with S = ``states`` states, written with the reward
    predictor rho_s(x, a) = P(r = s | x, a) and a per-row *emission* score h_s(u, x, y)
    (log P(y | r = s, u, x) up to a constant), so that the same parameters give P_hat under
    any action distribution P(a | x):

        P(a | x, y, A) = sum_s g_s pi(a) rho_s(a) / sum_{a'} pi(a') rho_s(a'),
        g_s            = softmax_s(h_s + log sum_{a' in A} pi(a') rho_s(a'))     (= P(r=s | x, y))

    ``pi`` is the logging distribution when it is known (``log_prior``: fitting and held-out
    likelihood of logs that carry ``action_probs``) and the synthetic uniform 1/K otherwise;
    decoding (:func:`ik_probabilities`) always uses the uniform one, as Eq. (3)-(4) and
    Algorithm 1 do. h = W q + b with q = (e(u) + C x) * e_feedback[y] (the user x feedback
    interaction; e(u) from :class:`UserRepresentation`), rho(x, a) = softmax_s(<phi_s(x),
    psi_s(a)> + b_s(a) + c_s . f(a)). Rows whose signal this model never trained on
    (``known_feedback``; the unknown index 0 included) get P_hat = pi(a), i.e. 1/K (module
    docstring).
    """

    def __init__(
        self,
        *,
        num_users: int,
        num_feedback: int,
        num_actions: int,
        context_dim: int,
        action_features: np.ndarray,
        embedding_dim: int,
        action_dim: int,
        hidden_dim: int,
        context_interaction: bool,
        states: int = 2,
        init_scale: float = 1.0,
        action_init_scale: float = 0.1,
    ) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.action_dim = action_dim
        self.states = states
        self.users = UserRepresentation(num_users, embedding_dim, init_scale)
        self.feedback_embedding = nn.Embedding(num_feedback, embedding_dim)
        nn.init.normal_(self.feedback_embedding.weight, std=init_scale)
        self.user_context = (
            nn.Linear(context_dim, embedding_dim, bias=False)
            if context_interaction and context_dim
            else None
        )
        if self.user_context is not None:
            nn.init.zeros_(self.user_context.weight)
        self.decoder = nn.Linear(embedding_dim, states)
        self.context = ContextEncoder(context_dim, hidden_dim, states * action_dim)
        self.actions = ActionEncoder(
            num_actions, action_features, states * action_dim, init_std=action_init_scale
        )
        # per-action, per-state bias (free, and from the action features when there are
        # some): the feedback-dependent action marginal, an easy first-order signal that
        # pulls the decoder off the no-signal saddle during the warm-up
        self.action_state_bias = nn.Embedding(num_actions, states)
        nn.init.zeros_(self.action_state_bias.weight)
        self.feature_state_bias = (nn.Linear(action_features.shape[1], states, bias=False)
                                   if action_features.shape[1] else None)
        if self.feature_state_bias is not None:
            nn.init.zeros_(self.feature_state_bias.weight)
        # which signals this model learnt from (set by :meth:`mark_known`): a signal it never
        # saw is the unknown signal, whatever its (untrained) embedding
        self.register_buffer("known_feedback", torch.zeros(num_feedback, dtype=torch.bool))
        #: False during warm-up: rho depends on the action only (see ``IKTrainer``)
        self.use_context = True

    @property
    def known_user(self) -> torch.Tensor:
        """Which user indices this model trained on (bool, one per vocabulary row)."""
        return self.users.known

    def mark_known(self, users: np.ndarray, feedback: np.ndarray) -> None:
        """Record the user and signal indices of the training rows (added to those already
        known, e.g. copied from a warm start); the unknown index 0 is never known."""
        for buffer, seen in ((self.users.known, users), (self.known_feedback, feedback)):
            buffer[torch.as_tensor(np.unique(seen), dtype=torch.long, device=buffer.device)] = True
            buffer[UNKNOWN] = False

    def user_representation(self, user: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """e(u) + C x: the user/context side of the feedback interaction."""
        rep = self.users(user)
        if self.user_context is not None:
            rep = rep + self.user_context(self.context.standardise(x))
        return rep

    def emission_scores(self, user, feedback, x) -> torch.Tensor:
        """h(u, x, y) = W q + b: log P(y | r = s, u, x) up to a per-row constant, (n, S)."""
        return self.decoder(self.user_representation(user, x) * self.feedback_embedding(feedback))

    def action_penalty(self) -> torch.Tensor:
        """|e_action|^2 / 2 + |b(a)|^2 / 2 over every action: the Gaussian prior that shrinks
        each action's free parameters toward what its features (or nothing) predict."""
        return 0.5 * (self.actions.embedding.weight.pow(2).sum()
                      + self.action_state_bias.weight.pow(2).sum())

    def state_bias(self, actions: torch.Tensor) -> torch.Tensor:
        """b_s(a) + c_s . f(a) of each action index, (..., S)."""
        bias = self.action_state_bias(actions)
        if self.feature_state_bias is not None:
            bias = bias + self.feature_state_bias(self.actions.features[actions])
        return bias

    def reward_log_predictor(self, x, candidates) -> torch.Tensor:
        """log rho(x, a): per candidate distribution over latent states, (n, K, S).

        The action side (bias and psi) is computed once per distinct action of the batch and
        gathered for every candidate slot.
        """
        n, k = candidates.shape
        shared = shared_candidates(candidates)
        if shared is not None:
            # every row has the same candidate list (a fixed action set): embed it once and
            # multiply, instead of gathering n * K rows
            logits = self.state_bias(shared).unsqueeze(0)
            if self.use_context:
                psi = self.actions.encode(shared).view(k, self.states, self.action_dim)
                phi = self.context(x).view(n, self.states, self.action_dim)
                logits = logits + torch.einsum("nsd,ksd->nks", phi, psi)
            else:
                logits = logits.expand(n, k, self.states)
            return torch.log_softmax(logits, dim=-1)
        distinct, inverse = torch.unique(candidates, return_inverse=True)
        if not self.use_context:
            return torch.log_softmax(self.state_bias(distinct)[inverse], dim=-1)
        table = torch.cat([self.state_bias(distinct), self.actions.encode(distinct)], dim=-1)
        gathered = table[inverse]
        psi = gathered[..., self.states:].view(n, k, self.states, self.action_dim)
        phi = self.context(x).view(n, 1, self.states, self.action_dim)
        logits = gathered[..., :self.states] + (phi * psi).sum(-1)
        return torch.log_softmax(logits, dim=-1)

    def forward(
        self,
        user: torch.Tensor,
        feedback: torch.Tensor,
        x: torch.Tensor,
        candidates: torch.Tensor,
        mask: torch.Tensor,
        log_prior: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """log P_hat(a | x, y, A) over the candidates, (n, K), ``NEG_INF`` in padding, under
        the action distribution ``log_prior`` (n, K) (None: uniform over each row's set)."""
        if log_prior is None:
            log_prior = (-torch.log(mask.sum(-1, keepdim=True).to(x.dtype))).expand(mask.shape)
        log_prior = log_prior.masked_fill(~mask, NEG_INF)
        log_rho = self.reward_log_predictor(x, candidates)
        # log pi(a) rho_s(a), and its normaliser over the set: P(r = s | x) under pi
        log_joint = log_rho + log_prior.unsqueeze(-1)
        log_state = torch.logsumexp(log_joint, dim=1)
        log_g = torch.log_softmax(self.emission_scores(user, feedback, x) + log_state, dim=-1)
        log_p = torch.logsumexp(log_joint - log_state.unsqueeze(1) + log_g.unsqueeze(1), dim=-1)
        # a signal this model never saw is uninformative: P(a | x, y) = P(a | x) (Eq. 2)
        unknown = ~self.known_feedback[feedback]
        log_p = torch.where(unknown.unsqueeze(-1), log_prior, log_p)
        return log_p.masked_fill(~mask, NEG_INF)


class IKEnsemble(nn.Module):
    """The cross-fitted IK models of one fit; ``forward`` is the log of their mean P_hat.

    Member f decoded the training rows of fold f (it never trained on them); a row that was
    not in training is decoded by all of them, P_hat = mean_f P_hat_f, a cross-fit ensemble
    that costs no extra training.
    """

    def __init__(self, members: list[IKNet]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, user, feedback, x, candidates, mask, log_prior=None) -> torch.Tensor:
        logs = torch.stack([member(user, feedback, x, candidates, mask, log_prior)
                            for member in self.members])
        log_p = torch.logsumexp(logs, dim=0) - math.log(len(self.members))
        return log_p.masked_fill(~mask, NEG_INF)


def ik_net(config, *, num_users: int, num_feedback: int, num_actions: int, context_dim: int,
           action_features: np.ndarray) -> IKNet:
    """An :class:`IKNet` sized by the vocabularies and the IK fields of an ``IGLPConfig``.

    Its initialisation draws from torch's global generator: seed it first where the
    initial weights matter (fitting), not where a state dict replaces them (loading).
    """
    return IKNet(
        num_users=num_users,
        num_feedback=num_feedback,
        num_actions=num_actions,
        context_dim=context_dim,
        action_features=action_features,
        embedding_dim=config.embedding_dim,
        action_dim=config.action_dim,
        hidden_dim=config.hidden_dim,
        context_interaction=config.context_interaction,
        states=config.states,
        init_scale=config.ik_init_scale,
    )


def shared_candidates(candidates: torch.Tensor) -> torch.Tensor | None:
    """The common candidate row ``(K,)`` when every row lists the same actions, else None."""
    if candidates.shape[0] == 0:
        return None
    first = candidates[0]
    return first if bool((candidates == first).all()) else None


_TENSOR_FIELDS = {
    "user": ("user", np.int64),
    "feedback": ("feedback", np.int64),
    "x": ("context", np.float32),
    "candidates": ("candidates", np.int64),
    "mask": ("mask", np.bool_),
    "target": ("action_index", np.int64),
    "weight": ("weight", np.float32),
}


def batch_tensors(batch: Batch, rows: np.ndarray | slice | None = None, *,
                  device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """The tensors IKNet/PolicyNet need for ``rows`` of ``batch`` (all rows when None), on
    ``device``. On the CPU a contiguous slice shares memory with the batch's arrays."""
    out = {}
    for name, (field, dtype) in _TENSOR_FIELDS.items():
        array = getattr(batch, field)
        if rows is not None:
            array = array[rows]
        array = np.require(array, dtype=dtype, requirements=["C", "W"])
        out[name] = torch.as_tensor(array, device=device)
    out["ik_weight"] = out["weight"] if batch.log_prior is None else torch.ones_like(out["weight"])
    if batch.log_prior is not None:
        array = batch.log_prior if rows is None else batch.log_prior[rows]
        out["log_prior"] = torch.as_tensor(np.ascontiguousarray(array), device=device)
    return out


def minibatches(batch: Batch, order: np.ndarray, size: int, *,
                device: torch.device | str = "cpu") -> Iterator[dict[str, torch.Tensor]]:
    """Mini-batches of ``batch`` in the row ``order`` given, each built when it is needed
    (a data iterator: the whole training set never has to sit on the device)."""
    for start in range(0, order.shape[0], size):
        yield batch_tensors(batch, order[start:start + size], device=device)


def _device(net: nn.Module) -> torch.device:
    return next(net.parameters()).device


def logged_nll(net: nn.Module, t: dict[str, torch.Tensor]) -> torch.Tensor:
    """-log P_hat(a_t | x_t, y_t, A_t) of each row's logged action under the row's action
    distribution (the logging policy when known, else uniform), (n,)."""
    logp = net(t["user"], t["feedback"], t["x"], t["candidates"], t["mask"], t.get("log_prior"))
    return -logp.gather(1, t["target"].unsqueeze(1)).squeeze(1)


@torch.no_grad()
def ik_probabilities(net: nn.Module, batch: Batch, *, chunk: int = 65536) -> np.ndarray:
    """P_hat(. | x, y, A) under the synthetic uniform distribution (what Eq. (3)-(4) compare
    with 1/K) as a float64 (n, k_max) array, zeros in padding."""
    net.eval()
    device = _device(net)
    out = []
    for start in range(0, len(batch), chunk):
        t = batch_tensors(batch, slice(start, start + chunk), device=device)
        log_p = net(t["user"], t["feedback"], t["x"], t["candidates"], t["mask"])
        p = torch.exp(log_p.double()).masked_fill(~t["mask"], 0.0)
        out.append((p / p.sum(-1, keepdim=True)).cpu())
    if not out:
        return np.zeros((0, batch.candidates.shape[1]))
    return torch.cat(out).numpy()


@torch.no_grad()
def nll_sums(net: nn.Module, batch: Batch, *, chunk: int = 65536) -> tuple[float, float]:
    """(sum of w * NLL, sum of w) of the logged actions of ``batch`` (eval mode), with the IK
    row weights (``Batch.ik_weight``)."""
    net.eval()
    device = _device(net)
    total = weight = 0.0
    for start in range(0, len(batch), chunk):
        t = batch_tensors(batch, slice(start, start + chunk), device=device)
        w = t["ik_weight"].double()
        total += float((w * logged_nll(net, t).double()).sum())
        weight += float(w.sum())
    return total, weight


def held_out_nll(net: nn.Module, batch: Batch) -> float:
    """Weighted mean NLL of the logged actions of ``batch`` under ``net``."""
    total, weight = nll_sums(net, batch)
    return total / max(weight, 1e-12)


#: A model has left the no-signal point once its held-out weighted NLL is this many nats
#: below the no-signal value (stuck models sit within ~0.002 of it).
ESCAPE_MARGIN = 0.01


def no_signal_nll(batch: Batch) -> float:
    """NLL of the no-signal IK model, P(a | x, y) = P(a | x) (Eq. 2 with an uninformative y):
    the weighted mean log K under the synthetic uniform distribution, or the mean -log of the
    logging probability of the logged action when the logging distribution is known."""
    if len(batch) == 0:
        return float("nan")
    if batch.log_prior is not None:
        logged = batch.log_prior[np.arange(len(batch)), batch.action_index].astype(np.float64)
        return float(-logged.mean())
    weight = batch.weight.astype(np.float64)
    return float((weight * np.log(batch.num_candidates)).sum() / max(weight.sum(), 1e-12))


def left_no_signal(nll: float, no_signal: float) -> bool:
    """Whether a weighted NLL is clearly (``ESCAPE_MARGIN``) below the no-signal level."""
    return nll < no_signal - ESCAPE_MARGIN


def user_weight_shares(batch: Batch) -> np.ndarray:
    """``1 / W_u`` per row, W_u the total IK weight of the row's user in ``batch``: spreading
    the per-user prior over the user's rows (weighted like the likelihood) makes the
    objective pay it exactly once per user per pass."""
    if len(batch) == 0:
        return np.zeros(0, dtype=np.float32)
    users, inverse = np.unique(batch.user, return_inverse=True)
    totals = np.bincount(inverse, weights=batch.ik_weight.astype(np.float64), minlength=users.size)
    return (1.0 / np.maximum(totals[inverse], 1e-12)).astype(np.float32)


def optimisers(net: nn.Module, *, learning_rate: float,
               weight_decay: float) -> list[torch.optim.Optimizer]:
    """Adam (with weight decay) on the dense parameters and SparseAdam (row-wise: only the
    rows of the batch move) on the sparse embeddings, whose prior is in the loss instead."""
    sparse = {id(module.weight) for module in net.modules()
              if isinstance(module, nn.Embedding) and module.sparse}
    dense = [p for p in net.parameters() if id(p) not in sparse]
    rows = [p for p in net.parameters() if id(p) in sparse]
    out: list[torch.optim.Optimizer] = [
        torch.optim.Adam(dense, lr=learning_rate, weight_decay=weight_decay)]
    if rows:
        out.append(torch.optim.SparseAdam(rows, lr=learning_rate))
    return out


@dataclass(frozen=True)
class IKTrainingRecord:
    """One training attempt (restart) of one cross-fitted IK model.

    ``curve`` is the inner-validation weighted NLL after each epoch, ``validation_nll`` its
    best value (the weights kept), reached after ``best_epoch`` epochs of ``epochs`` run;
    ``train_nll`` the weighted mean of the mini-batch losses of the last epoch (prior
    included); ``no_signal_nll`` the weighted mean log K of the inner-validation rows;
    ``kept`` whether this attempt is the fold's model.
    """

    fold: int
    restart: int
    seed: int
    warm_started: bool
    train_nll: float
    validation_nll: float
    no_signal_nll: float
    epochs: int
    best_epoch: int
    kept: bool
    curve: tuple[float, ...]

    @property
    def escaped(self) -> bool:
        """Whether the attempt left the no-signal point on its inner validation rows."""
        return left_no_signal(self.validation_nll, self.no_signal_nll)

    def to_dict(self) -> dict:
        return {
            "fold": self.fold,
            "restart": self.restart,
            "seed": self.seed,
            "warm_started": self.warm_started,
            "train_nll": self.train_nll,
            "validation_nll": self.validation_nll,
            "no_signal_nll": self.no_signal_nll,
            "epochs": self.epochs,
            "best_epoch": self.best_epoch,
            "kept": self.kept,
            "curve": list(self.curve),
        }

    @classmethod
    def from_dict(cls, data: dict) -> IKTrainingRecord:
        """Inverse of :meth:`to_dict`."""
        return cls(int(data["fold"]), int(data["restart"]), int(data["seed"]),
                   bool(data["warm_started"]), float(data["train_nll"]),
                   float(data["validation_nll"]), float(data["no_signal_nll"]),
                   int(data["epochs"]), int(data["best_epoch"]), bool(data["kept"]),
                   tuple(float(value) for value in data["curve"]))


class IKTrainer:
    """MAP training of one IK model, one epoch at a time.

    Each epoch draws one permutation of the training rows (numpy, seeded) and builds each
    mini-batch from the arrays when it is needed, on ``device`` (the training set is never
    copied to the device whole). The loss of a mini-batch is

        sum_i w_i [ -log P_hat(a_i | x_i, y_i) + prior_precision |d_{u_i}|^2 / (2 W_{u_i}) ]
        / sum_i w_i  +  action_prior_precision / (2 W) * sum_a (|e_action[a]|^2 + |b(a)|^2)

    with w the IK row weights (``Batch.ik_weight``: importance weights, or 1 under a known
    logging distribution), W_u a user's and W the total weight (:func:`user_weight_shares`):
    the likelihood plus the Gaussian priors on the user deviations and on each action's free
    parameters, each paid once per pass. During the first ``warmup_epochs`` the reward
    predictor sees the action only (``IKNet.use_context = False``), which pulls the decoder
    off the no-signal saddle (docs/igl.md). Adam steps the dense parameters, SparseAdam the
    user deviations (:func:`optimisers`).
    """

    def __init__(
        self,
        net: IKNet,
        train: Batch,
        *,
        batch_size: int,
        learning_rate: float,
        weight_decay: float,
        prior_precision: float,
        action_prior_precision: float = 0.0,
        seed: int,
        warmup_epochs: int = 0,
        device: torch.device | str = "cpu",
    ) -> None:
        self.net = net.to(device)
        self.train = train
        self.device = device
        self.rng = np.random.default_rng(seed)
        self.shares = user_weight_shares(train)
        # the per-action prior, paid once per pass: a share 1 / W of it with each unit weight
        self.action_prior = action_prior_precision / max(float(train.ik_weight.sum()), 1e-12)
        self.optimisers = optimisers(net, learning_rate=learning_rate, weight_decay=weight_decay)
        self.batch_size = batch_size
        self.prior_precision = prior_precision
        self.warmup_epochs = warmup_epochs
        self.epochs_run = 0
        self.epoch_loss = float("nan")

    def set_learning_rate(self, learning_rate: float) -> None:
        """Change the step size of every optimiser (their moment estimates are kept)."""
        for optimiser in self.optimisers:
            for group in optimiser.param_groups:
                group["lr"] = learning_rate

    def run_epoch(self) -> float:
        """One pass over the training rows; returns the weighted mean mini-batch loss."""
        net = self.net
        net.train()
        net.use_context = self.epochs_run >= self.warmup_epochs
        order = self.rng.permutation(len(self.train))
        total_loss = total_weight = 0.0
        for start, t in zip(range(0, order.shape[0], self.batch_size),
                            minibatches(self.train, order, self.batch_size, device=self.device),
                            strict=True):
            share = torch.as_tensor(self.shares[order[start:start + self.batch_size]],
                                    device=self.device)
            prior = self.prior_precision * net.users.penalty(t["user"]) * share
            w = t["ik_weight"]
            weight = w.sum().clamp_min(1e-12)
            loss = (w * (logged_nll(net, t) + prior)).sum() / weight
            if self.action_prior:
                loss = loss + self.action_prior * net.action_penalty()
            for optimiser in self.optimisers:
                optimiser.zero_grad(set_to_none=True)
            loss.backward()
            for optimiser in self.optimisers:
                optimiser.step()
            total_loss += float(loss.detach()) * float(weight)
            total_weight += float(weight)
        self.epoch_loss = total_loss / max(total_weight, 1e-12)
        self.epochs_run += 1
        net.use_context = True
        net.eval()
        return self.epoch_loss
