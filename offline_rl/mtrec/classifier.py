"""A CTR backbone trained with MTRec's alignment loss (Eq. 8-10).

.. math::

    L = L_{CE} + \\kappa L_{Align}, \\qquad
    L_{Align} = -E[r^*(s, a^P) F(i|h) + r^*(s, a^N) (1 - F(i|h))],

with ``F = sigmoid(logit)`` the backbone's click probability and ``r*`` the mental rewards of
:meth:`offline_rl.qriql.QRIQL.mental_rewards` (``mental_reward_positive`` / ``_negative``).
``kappa = 0`` is the plain backbone. Only ``r*(s, a^P) - r*(s, a^N)`` moves the gradient; with
``standardize_rewards`` both are divided by that difference's standard deviation on the
training rows so one ``kappa`` suits reward models of different scales (the paper is silent).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from torch import nn

from offline_rl.artifacts import load_artifact, prefixed, save_artifact, torch_threads
from offline_rl.config import Boolean, Choice, Config, Integer, Real
from offline_rl.data.hidden_reward import assert_no_hidden_reward
from offline_rl.errors import NotFittedError
from offline_rl.mtrec.backbones import BACKBONES
from offline_rl.mtrec.data import CTRArrays, CTREncoder
from offline_rl.qriql.features import IdIndex

ARTIFACT_FORMAT = "offline_rl.mtrec.MTRecClassifier"
ARTIFACT_VERSION = "1"


@dataclass(frozen=True, kw_only=True)
class MTRecConfig(Config):
    """Hyperparameters of an (aligned) CTR backbone. References: MTRec Eq. (8)-(10)."""

    backbone: str = "din"
    """One of 'wide_deep', 'deepfm', 'pnn', 'din', 'dien', 'sasrec'."""
    kappa: float = 0.0
    """Weight of the alignment loss; 0 trains the plain backbone."""
    standardize_rewards: bool = True
    """Divide r* by the std of r*(s, a^P) - r*(s, a^N) on the training rows."""
    embedding_dim: int = 16
    """Size of the id embeddings."""
    hidden_dim: int = 64
    """Width of the MLPs."""
    history_length: int = 10
    """Most recent history items read by the backbone."""
    epochs: int = 5
    """Passes over the training rows."""
    batch_size: int = 512
    """Mini-batch size (Adam)."""
    learning_rate: float = 3e-3
    """Adam learning rate."""
    weight_decay: float = 1e-6
    """Adam L2 penalty."""
    max_threads: int = 1
    """Upper bound on torch CPU threads (1: see QRIQLConfig.max_threads)."""
    seed: int = 0
    """Seed of initialisation and shuffling."""

    CONSTRAINTS = {
        "backbone": Choice(tuple(BACKBONES)),
        "kappa": Real(0.0),
        "standardize_rewards": Boolean(),
        "embedding_dim": Integer(1),
        "hidden_dim": Integer(1),
        "history_length": Integer(1),
        "epochs": Integer(1),
        "batch_size": Integer(1),
        "learning_rate": Real(0.0, low_open=True),
        "weight_decay": Real(0.0),
        "max_threads": Integer(1),
        "seed": Integer(0),
    }


def alignment_loss(prob: torch.Tensor, reward_positive: torch.Tensor,
                   reward_negative: torch.Tensor) -> torch.Tensor:
    """``L_Align = -mean(r*(s, a^P) F + r*(s, a^N) (1 - F))`` (Eq. 9)."""
    return -(reward_positive * prob + reward_negative * (1.0 - prob)).mean()


def _tensors(data: CTRArrays, index=slice(None), device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(np.ascontiguousarray(a[index])).to(device) for a in
                 (data.user, data.history, data.history_category, data.item, data.category))


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def aligned_rewards(frame: pl.DataFrame, rewards: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``r*(s, a^P)``, ``r*(s, a^N)`` for each row of ``frame`` (join on event_id if both have it)."""
    needed = ["mental_reward_positive", "mental_reward_negative"]
    missing = [c for c in needed if c not in rewards.columns]
    if missing:
        raise ValueError(f"rewards: unable to find column(s) {missing}; valid columns: "
                         f"{rewards.columns}. Pass QRIQL.mental_rewards(...).")
    if "event_id" in frame.columns and "event_id" in rewards.columns:
        joined = frame.select("event_id").join(
            rewards.select("event_id", *needed), on="event_id", how="left", maintain_order="left"
        )
    else:
        if rewards.height != frame.height:
            raise ValueError(f"rewards has {rewards.height} rows but the frame has {frame.height}; "
                             "without event_id they must align row by row.")
        joined = rewards
    if joined[needed[0]].null_count():
        raise ValueError(f"{joined[needed[0]].null_count()} training rows have no mental reward "
                         "(event_id not found in rewards).")
    return (joined[needed[0]].to_numpy().astype(np.float32),
            joined[needed[1]].to_numpy().astype(np.float32))


class MTRecClassifier:
    """A CTR backbone with MTRec's optional alignment loss.

    Attributes
    ----------
    model_ : torch.nn.Module
    initial_model_ : torch.nn.Module
        The same network before training (for "NCIS minus untrained", MTRec sec. 5.1).
    encoder_ : CTREncoder
    loss_curve_ : list of float
        Mean training loss per epoch.
    reward_scale_ : float
    """

    def __init__(self, config: MTRecConfig | None = None) -> None:
        self.config = config if config is not None else MTRecConfig()
        if not isinstance(self.config, MTRecConfig):
            raise ValueError(f"MTRecClassifier expects an MTRecConfig, got {type(self.config).__name__}.")

    def fit(
        self,
        frame: pl.DataFrame,
        *,
        rewards: pl.DataFrame | None = None,
        item_categories: Mapping[Any, Any] | pl.DataFrame | None = None,
        label: str | None = None,
    ) -> MTRecClassifier:
        """Train on rows (user_id, history_items, item, label/response); ``rewards`` for kappa > 0."""
        assert_no_hidden_reward(frame, learner="MTRecClassifier.fit")
        cfg = self.config
        if cfg.kappa > 0 and rewards is None:
            raise ValueError("MTRecClassifier.fit: kappa > 0 needs the mental rewards "
                             "(rewards=QRIQL(...).mental_rewards(trajectories)).")
        with torch_threads(cfg.max_threads):
            self.encoder_ = CTREncoder.fit(frame, item_categories=item_categories,
                                           history_length=cfg.history_length)
            data = self.encoder_.encode(frame, label=label)
            n = len(data)
            if rewards is not None and cfg.kappa > 0:
                positive, negative = aligned_rewards(frame, rewards)
                scale = float(np.std(positive - negative)) if cfg.standardize_rewards else 1.0
                scale = scale if scale > 1e-12 else 1.0
                positive, negative = positive / scale, negative / scale
            else:
                positive = negative = np.zeros(n, dtype=np.float32)
                scale = 1.0
            self.reward_scale_ = scale
            torch.manual_seed(cfg.seed)
            self.model_ = BACKBONES[cfg.backbone](
                **self.encoder_.sizes, dim=cfg.embedding_dim, hidden=cfg.hidden_dim
            )
            self.initial_model_ = copy.deepcopy(self.model_).eval()
            device = _device(self.model_)
            self.loss_curve_ = self._train(data, torch.from_numpy(positive).to(device),
                                           torch.from_numpy(negative).to(device))
            self.model_.eval()
        return self

    def _train(self, data: CTRArrays, positive: torch.Tensor, negative: torch.Tensor) -> list[float]:
        cfg = self.config
        model = self.model_
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate,
                                     weight_decay=cfg.weight_decay)
        device = _device(model)
        inputs = _tensors(data, device=device)
        labels = torch.from_numpy(data.label).to(device)
        bce = nn.BCEWithLogitsLoss()
        rng = np.random.default_rng(cfg.seed)
        n = len(data)
        curve = []
        for _ in range(cfg.epochs):
            order = torch.from_numpy(rng.permutation(n)).to(device)
            total = 0.0
            for start in range(0, n, cfg.batch_size):
                index = order[start:start + cfg.batch_size]
                logits = model(*(t[index] for t in inputs))
                loss = bce(logits, labels[index])
                auxiliary = getattr(model, "auxiliary_loss", None)
                if auxiliary is not None:  # DIEN's next-behaviour loss
                    loss = loss + model.auxiliary_weight * auxiliary
                if cfg.kappa > 0:
                    loss = loss + cfg.kappa * alignment_loss(torch.sigmoid(logits),
                                                             positive[index], negative[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(index)
            curve.append(total / n)
        return curve

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("This MTRecClassifier instance is not fitted yet. Call 'fit' first.")

    def predict_proba(self, frame: pl.DataFrame, *, untrained: bool = False) -> np.ndarray:
        """Click probability of each row's item, float64 (n,) (``untrained``: before fit)."""
        self._check_fitted()
        model = self.initial_model_ if untrained else self.model_
        with torch_threads(self.config.max_threads), torch.no_grad():
            data = self.encoder_.encode(frame)
            outputs = [torch.sigmoid(model(*_tensors(data, slice(s, s + 65536), _device(model))))
                       for s in range(0, len(data), 65536)]
        if not outputs:
            return np.zeros(0)
        return torch.cat(outputs).double().cpu().numpy()

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``model.pt`` (state_dicts), ``config.json`` and ``manifest.json`` atomically."""
        self._check_fitted()
        state = {f"model.{k}": v for k, v in self.model_.state_dict().items()}
        state.update({f"initial.{k}": v for k, v in self.initial_model_.state_dict().items()})
        encoder = self.encoder_
        return save_artifact(
            directory,
            artifact_format=ARTIFACT_FORMAT,
            version=ARTIFACT_VERSION,
            state=state,
            config=self.config.to_dict(),
            fitted={
                "users": list(encoder.users.values),
                "items": list(encoder.items.values),
                "categories": list(encoder.categories.values),
                "category_of_item": list(encoder.category_of_item),
                "history_length": encoder.history_length,
                "reward_scale": self.reward_scale_,
                "loss_curve": self.loss_curve_,
            },
            manifest={"seed": self.config.seed},
        )

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> MTRecClassifier:
        """Rebuild a fitted classifier from :meth:`save`'s folder (``weights_only=True``)."""
        document, state = load_artifact(directory, artifact_format=ARTIFACT_FORMAT, name="MTRecClassifier")
        learner = cls(MTRecConfig.from_dict(document["config"]))
        fitted = document["fitted"]
        learner.encoder_ = CTREncoder(
            IdIndex(tuple(fitted["users"])), IdIndex(tuple(fitted["items"])),
            IdIndex(tuple(fitted["categories"])), tuple(fitted["category_of_item"]),
            int(fitted["history_length"]),
        )
        learner.reward_scale_ = float(fitted["reward_scale"])
        learner.loss_curve_ = list(fitted["loss_curve"])
        cfg = learner.config
        models = []
        for prefix in ("model.", "initial."):
            model = BACKBONES[cfg.backbone](**learner.encoder_.sizes, dim=cfg.embedding_dim,
                                            hidden=cfg.hidden_dim)
            model.load_state_dict(prefixed(state, prefix))
            models.append(model.eval())
        learner.model_, learner.initial_model_ = models
        return learner
