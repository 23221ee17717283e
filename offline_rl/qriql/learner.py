"""QR-IQL, the public learner: ``QRIQL(config).fit(trajectories).mental_rewards(trajectories)``.

1. Encode the ``user_trajectories`` rows (s, a, s', done) (:mod:`offline_rl.qriql.features`).
2. Train the quantile Q-network (:mod:`offline_rl.qriql.network`) on the QR-IQL loss of
   Algorithm 1 (:func:`offline_rl.qriql.objective.qriql_loss`) with Adam on random
   mini-batches (:mod:`offline_rl.qriql.training`); ``quantiles=1`` is IQ-Learn through the
   same code. Optionally hold out users (or sessions), early-stop on their loss and keep the
   best weights; checkpoint and resume; train on a GPU or in several processes (DDP).
3. ``r*(s, a) = Q(s, a) - gamma V(s'_a)`` (Eq. 7) for the logged action and every other one,
   where ``s'_a`` is the next state with this step's response set to ``a`` (the counterfactual
   next state: the history it carries records the response).

``fit`` takes a polars frame (held in memory) or :class:`offline_rl.runtime.ParquetRowGroups`
(streamed row group by row group, each process reading its own; memory does not grow with the
number of rows). The learner never parses files itself and never sees the hidden reward.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from offline_rl.artifacts import load_artifact, runtime_record, save_artifact
from offline_rl.data.atomic import atomic_write_parquet
from offline_rl.data.hidden_reward import assert_no_hidden_reward
from offline_rl.errors import NotFittedError
from offline_rl.qriql.batches import InMemoryBatches, StreamedBatches, held_out_chunks
from offline_rl.qriql.config import QRIQLConfig
from offline_rl.qriql.features import (
    KEY_COLUMNS,
    REQUIRED_COLUMNS,
    IdIndex,
    StateArrays,
    TrajectoryArrays,
    action_feature_matrix,
    category_lookup,
    encode_trajectories,
    flip_last_response,
    held_out_mask,
    require_columns,
)
from offline_rl.qriql.network import QuantileQNetwork, q_values, soft_value
from offline_rl.qriql.objective import mental_reward
from offline_rl.qriql.training import mean_loss, state_tensors, terminal_of, train
from offline_rl.runtime import (
    Checkpointing,
    ParquetRowGroups,
    World,
    all_gather_objects,
    atomic_parquet_writer,
    current_world,
    resolve_device,
    torch_threads,
)

ARTIFACT_FORMAT = "offline_rl.qriql.QRIQL"
ARTIFACT_VERSION = "1"
REWARDS_FILE = "mental_rewards.parquet"

#: Columns of :meth:`QRIQL.mental_rewards` after the keys ``user_id, session_id, step, event_id``.
MENTAL_REWARD_COLUMNS: tuple[str, ...] = (
    "response",
    "mental_reward",
    "mental_reward_quantiles",
    "mental_reward_by_action",
    "mental_reward_positive",
    "mental_reward_negative",
    "counterfactual_action",
    "counterfactual_mental_reward",
    "q_value",
    "next_value",
    "done",
)

#: Config fields that say where a fit runs, not what it computes: a checkpoint may be resumed
#: with other values of these.
_RUNTIME_FIELDS = ("device", "max_threads")

Trajectories = pl.DataFrame | ParquetRowGroups


@dataclass(frozen=True)
class _Vocabulary:
    """What ``fit`` learns from the training rows before training: ids and shapes."""

    items: list[Any]
    history_length: int
    context_dim: int
    rows: int
    held_out_rows: int


class QRIQL:
    """Quantile Regression Inverse Q-Learning of a distributional mental reward model.

    Parameters
    ----------
    config : QRIQLConfig, optional
        Hyperparameters; ``QRIQLConfig()`` (N = 10, alpha = 0.5) when omitted.

    Attributes
    ----------
    network_ : QuantileQNetwork
    items_, categories_ : IdIndex
    history_length_, context_dim_ : int
    loss_curve_ : list of float
        Training loss per step (the mean over the processes of a distributed fit).
    validation_curve_ : list of [step, held-out loss]
        The held-out loss at each evaluation; empty without a validation split.
    best_step_ : int or None
        The step whose weights the model holds (lowest held-out loss); None without a split.
    steps_ : int
        Adam steps taken (``steps``, or derived from ``epochs``; fewer after an early stop).
    fit_seconds_, samples_per_second_ : float
    n_rows_, n_validation_rows_ : int
        Training rows, and held-out rows (0 without a validation split), over every process.
    runtime_ : dict
        How the fit ran: device, CPU threads per process, world size and backend.

    References
    ----------
    MTRec (mtrec-paper.txt) sec. 4.2, Eq. (6)-(7), Appendix A.2, Algorithm 1.
    """

    def __init__(self, config: QRIQLConfig | None = None) -> None:
        self.config = config if config is not None else QRIQLConfig()
        if not isinstance(self.config, QRIQLConfig):
            raise ValueError(
                f"QRIQL expects a QRIQLConfig, got {type(self.config).__name__} instead."
            )

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        trajectories: Trajectories,
        *,
        item_categories: Mapping[Any, Any] | pl.DataFrame | None = None,
        actions: pl.DataFrame | None = None,
        checkpointing: Checkpointing | None = None,
    ) -> QRIQL:
        """Learn the quantile Q-network from the ``user_trajectories`` rows.

        Parameters
        ----------
        trajectories : polars.DataFrame or ParquetRowGroups
            The ``user_trajectories`` mart (see docs/data-contracts.md), without ``reward``: a
            frame in memory, or Parquet files streamed row group by row group (required for a
            distributed fit, where each process reads its own row groups).
        item_categories : mapping or polars.DataFrame, optional
            Item id -> category (a dict, or a frame with ``item`` and ``category``).
        actions : polars.DataFrame, optional
            Item features (``action_id``, ``features``), the canonical actions table.
        checkpointing : offline_rl.runtime.Checkpointing, optional
            Save the training state every ``every`` steps; resume from it with ``resume``.

        Everything fitted (item vocabulary, history length, context size) comes from the
        training rows alone: held-out rows are never seen before they are scored.
        """
        assert_no_hidden_reward(trajectories, learner="QRIQL.fit")
        cfg = self.config
        world = current_world()
        streamed = isinstance(trajectories, ParquetRowGroups)
        if streamed:
            self._check_parquet(trajectories)
            source: Trajectories = trajectories.shard(world.rank, world.world_size)
        else:
            require_columns(trajectories, REQUIRED_COLUMNS, where="QRIQL.fit")
            if world.is_distributed:
                raise ValueError(
                    f"QRIQL.fit in a process group of {world.world_size} streams its rows: pass "
                    "offline_rl.runtime.ParquetRowGroups(path) so that each process reads its own "
                    "row groups, not a polars.DataFrame."
                )
            source = trajectories
        self._device = resolve_device(cfg.device, local_rank=world.local_rank)
        with torch_threads(cfg.max_threads) as threads:
            vocabulary = self._vocabulary(source, world)
            self.items_ = IdIndex.fit(pl.Series(vocabulary.items))
            self.categories_, lookup = category_lookup(self.items_, item_categories)
            features = action_feature_matrix(self.items_, actions)
            self.history_length_ = vocabulary.history_length
            self.context_dim_ = vocabulary.context_dim
            self.n_rows_, self.n_validation_rows_ = vocabulary.rows, vocabulary.held_out_rows
            batch = self._global_batch(world)
            steps = (cfg.steps if cfg.epochs is None
                     else max(1, math.ceil(cfg.epochs * self.n_rows_ / batch)))
            torch.manual_seed(cfg.seed)
            self.network_ = self._new_network(lookup, features).to(self._device)
            batches = self._batches(source, batch // world.world_size)
            evaluate = self._evaluator(source) if cfg.validation_fraction > 0 else None
            start = time.perf_counter()
            outcome = train(
                self.network_, batches, config=cfg, steps=steps, device=self._device, world=world,
                evaluate=evaluate, checkpointing=checkpointing,
                fingerprint=self._fingerprint(batch, steps),
            )
            self.fit_seconds_ = time.perf_counter() - start
            taken = outcome.steps - (outcome.resumed_from or 0)
            self.samples_per_second_ = taken * batch / max(self.fit_seconds_, 1e-9)
            self.loss_curve_ = outcome.loss_curve
            self.validation_curve_ = outcome.validation_curve
            self.best_step_ = outcome.best_step
            self.steps_ = outcome.steps
            self.runtime_ = runtime_record(device=self._device, threads=threads,
                                           world_size=world.world_size, backend=world.backend)
        return self

    @staticmethod
    def _check_parquet(source: ParquetRowGroups) -> None:
        missing = [c for c in REQUIRED_COLUMNS if c not in source.columns]
        if missing:
            raise ValueError(
                f"QRIQL.fit: {source.paths[0]}: unable to find column(s) {missing}; valid "
                f"columns: {source.columns}. Pass the user_trajectories table "
                "(offline-rl prepare writes user_trajectories.parquet)."
            )

    def _columns(self, source: Trajectories) -> list[str]:
        """The columns a Parquet source is read with (never the hidden reward)."""
        names = source.columns
        return [*REQUIRED_COLUMNS, *(["context"] if "context" in names else [])]

    def _held_out(self, frame: pl.DataFrame) -> np.ndarray:
        cfg = self.config
        return held_out_mask(frame, fraction=cfg.validation_fraction, unit=cfg.validation_unit, seed=cfg.seed)

    def _vocabulary(self, source: Trajectories, world: World) -> _Vocabulary:
        """Item ids, history length and context size of the training rows of every process."""
        cfg = self.config
        frames: Iterator[pl.DataFrame] = iter([source]) if isinstance(source, pl.DataFrame) else (
            pl.from_arrow(table) for table in source.tables(self._columns(source)))
        items: pl.Series | None = None
        history, context, rows, held_rows = 1, 0, 0, 0
        for frame in frames:
            held = self._held_out(frame)
            held_rows += int(held.sum())
            train_rows = frame.filter(pl.Series(~held)) if held.any() else frame
            rows += train_rows.height
            seen = pl.concat([train_rows["item"], train_rows["next_item"],
                              train_rows["history_items"].explode()]).drop_nulls().unique()
            items = seen if items is None else pl.concat([items, seen]).unique()
            history = max(history, int(train_rows["next_history_items"].list.len().max() or 1))
            if "context" in train_rows.columns and cfg.use_context:
                context = max(context, int(train_rows["context"].list.len().max() or 0))
        local = (items.to_list() if items is not None else [], history, context, rows, held_rows)
        gathered = all_gather_objects(local) if world.is_distributed else [local]
        every_item = sorted({item for part in gathered for item in part[0]}) if world.is_distributed else local[0]
        vocabulary = _Vocabulary(
            items=every_item,
            history_length=max(part[1] for part in gathered),
            context_dim=max(part[2] for part in gathered),
            rows=sum(part[3] for part in gathered),
            held_out_rows=sum(part[4] for part in gathered),
        )
        where = "QRIQL.fit"
        if vocabulary.rows < 2:
            held = (f" after holding out {vocabulary.held_out_rows} rows (validation_fraction "
                    f"{cfg.validation_fraction})") if vocabulary.held_out_rows else ""
            raise ValueError(f"{where} needs at least 2 trajectory rows; got {vocabulary.rows}{held}.")
        if cfg.validation_fraction > 0 and vocabulary.held_out_rows == 0:
            raise ValueError(
                f"{where}: validation_fraction {cfg.validation_fraction} held out no "
                f"{cfg.validation_unit} of the {vocabulary.rows} rows (each {cfg.validation_unit} is "
                "held out with that probability); raise it, or pass more users."
            )
        return vocabulary

    def _global_batch(self, world: World) -> int:
        """Rows per step over every process: ``batch_size`` capped at the training rows."""
        batch = min(self.config.batch_size, self.n_rows_)
        if world.is_distributed:
            if self.config.batch_size <= self.n_rows_ and batch % world.world_size:
                raise ValueError(
                    f"batch_size {batch} must be a multiple of the {world.world_size} processes: "
                    "each takes batch_size / processes rows of every step."
                )
            batch -= batch % world.world_size
            if batch == 0:
                raise ValueError(f"{self.n_rows_} training rows cannot fill a batch for each of "
                                 f"{world.world_size} processes.")
        return batch

    def _batches(self, source: Trajectories, batch: int) -> InMemoryBatches | StreamedBatches:
        cfg = self.config
        if isinstance(source, pl.DataFrame):
            held = self._held_out(source)
            rows = source.filter(pl.Series(~held)) if held.any() else source
            return InMemoryBatches(self._encode(rows), batch=batch, seed=cfg.seed)
        return StreamedBatches(source, columns=self._columns(source), encode=self._encode,
                               held_out=self._held_out, batch=batch,
                               buffer_rows=cfg.stream_buffer_rows, seed=cfg.seed)

    def _evaluator(self, source: Trajectories):
        """The held-out loss over every process's held-out rows (a callable for ``train``)."""
        columns = self._columns(source)
        if isinstance(source, pl.DataFrame):
            chunks = list(held_out_chunks(source, columns=columns, encode=self._encode,
                                          held_out=self._held_out))
            return lambda: mean_loss(self.network_, chunks, config=self.config, device=self._device)[0]
        return lambda: mean_loss(
            self.network_,
            held_out_chunks(source, columns=columns, encode=self._encode, held_out=self._held_out),
            config=self.config, device=self._device,
        )[0]

    def _fingerprint(self, batch: int, steps: int) -> dict[str, Any]:
        """What a checkpoint must share with this fit to be resumed by it."""
        settings = {k: v for k, v in self.config.to_dict().items() if k not in _RUNTIME_FIELDS}
        items = hashlib.sha256(repr(self.items_.values).encode()).hexdigest()[:16]
        return {"config": settings, "rows": self.n_rows_, "held_out_rows": self.n_validation_rows_,
                "items": items, "history_length": self.history_length_,
                "context_dim": self.context_dim_, "batch": batch, "steps": steps}

    def _new_network(self, lookup: np.ndarray, features: np.ndarray) -> QuantileQNetwork:
        cfg = self.config
        return QuantileQNetwork(
            n_actions=cfg.n_actions,
            quantiles=cfg.quantiles,
            hidden_dim=cfg.hidden_dim,
            num_items=self.items_.size,
            num_categories=self.categories_.size,
            category_of_item=lookup,
            action_features=features,
            context_dim=self.context_dim_,
            embedding_dim=cfg.embedding_dim,
            max_position=cfg.max_position,
        )

    def _encode(self, trajectories: pl.DataFrame) -> TrajectoryArrays:
        cfg = self.config
        return encode_trajectories(
            trajectories,
            items=self.items_,
            history_length=self.history_length_,
            context_dim=self.context_dim_,
            max_position=cfg.max_position,
            n_actions=cfg.n_actions,
        )

    # ------------------------------------------------------------------ inference
    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise NotFittedError(
                "This QRIQL instance is not fitted yet. Call 'fit' with a user_trajectories "
                "frame before using this method."
            )

    def _forward(self, state: StateArrays, chunk: int = 65536) -> torch.Tensor:
        """``lambda(s)`` of every row, on the model's device, in chunks of ``chunk`` rows."""
        outputs = []
        with torch.no_grad():
            for start in range(0, len(state), chunk):
                outputs.append(self.network_(*state_tensors(state.take(slice(start, start + chunk)), self._device)))
        if not outputs:
            return torch.zeros((0, self.config.n_actions, self.config.quantiles), device=self._device)
        return torch.cat(outputs)

    def predict_quantiles(self, trajectories: pl.DataFrame) -> np.ndarray:
        """``lambda_i(s, a)`` for every row, action and quantile: float64 (n, A, N)."""
        self._check_fitted()
        with torch_threads(self.config.max_threads):
            data = self._encode(trajectories)
            return self._forward(data.state).double().cpu().numpy()

    def predict_q(self, trajectories: pl.DataFrame) -> np.ndarray:
        """``Q(s, a)`` (mean of quantiles) for every row and action: float64 (n, A)."""
        return self.predict_quantiles(trajectories).mean(axis=-1)

    def loss(self, trajectories: Trajectories) -> float:
        """The training objective on ``trajectories``: the mean QR-IQL loss (Algorithm 1) with
        this config's settings, the same function the fit minimised (for N = 1 and
        ``huber_kappa = 0`` it is the IQ-Learn loss). A :class:`ParquetRowGroups` is read one
        row group at a time. In a process group the mean is over every process's rows, so
        every process must call it."""
        self._check_fitted()
        if isinstance(trajectories, ParquetRowGroups):
            world = current_world()
            shard = trajectories.shard(world.rank, world.world_size)
            chunks: Any = (self._encode(pl.from_arrow(table)) for table in shard.tables(self._columns(shard)))
        else:
            require_columns(trajectories, REQUIRED_COLUMNS, where="QRIQL.loss")
            data = self._encode(trajectories)
            chunks = [data.take(slice(start, start + 65536)) for start in range(0, len(data), 65536)]
        with torch_threads(self.config.max_threads):
            return mean_loss(self.network_, chunks, config=self.config, device=self._device)[0]

    def _reward_tensors(self, data: TrajectoryArrays) -> dict[str, torch.Tensor]:
        """Eq. (7) on the model's device: ``by_action`` (n, A), ``quantiles`` (n, A, N) (unsorted),
        ``q`` (n, A) and ``next_value`` (n, A) of every row and action."""
        cfg = self.config
        terminal = terminal_of(self.network_, cfg)
        with torch.no_grad():
            values = self._forward(data.state)
            done = torch.from_numpy(data.done).to(self._device)
            n = len(data)
            by_action, quantiles, next_value = [], [], []
            at_end = terminal.mean() if terminal is not None else torch.zeros((), device=self._device)
            for action in range(cfg.n_actions):
                next_state = flip_last_response(
                    data.next_state, cfg.n_actions, np.full(n, action, dtype=np.int64)
                )
                next_values = self._forward(next_state)
                reward, reward_q = mental_reward(values, next_values, done, gamma=cfg.gamma,
                                                 temperature=cfg.temperature, terminal_value=terminal)
                by_action.append(reward[:, action])
                quantiles.append(reward_q[:, action])
                value = soft_value(q_values(next_values), cfg.temperature, dim=1)
                next_value.append(torch.where(done, at_end.to(value.dtype), value))
        return {
            "by_action": torch.stack(by_action, dim=1),
            "quantiles": torch.stack(quantiles, dim=1),
            "q": q_values(values),
            "next_value": torch.stack(next_value, dim=1),
        }

    def mental_reward_arrays(self, trajectories: pl.DataFrame) -> dict[str, np.ndarray]:
        """Eq. (7) as arrays: ``by_action`` (n, A), ``quantiles`` (n, A, N) sorted, ``q``, ``v``.

        ``by_action[:, a] = Q(s, a) - gamma V(s'_a)`` with ``s'_a`` the next state had the user
        answered ``a`` (its last history response set to ``a``); ``V = 0`` at done steps.
        """
        self._check_fitted()
        with torch_threads(self.config.max_threads):
            data = self._encode(trajectories)
            tensors = self._reward_tensors(data)
        arrays = {name: value.double().cpu().numpy() for name, value in tensors.items()}
        return {
            "by_action": arrays["by_action"],
            "quantiles": np.sort(arrays["quantiles"], axis=-1),
            "q": arrays["q"],
            "next_value": arrays["next_value"],
            "action": data.action,
            "done": data.done,
        }

    def mental_rewards(self, trajectories: pl.DataFrame) -> pl.DataFrame:
        """``r*(s, a)`` of every logged step next to the trajectory keys.

        Returns
        -------
        polars.DataFrame
            ``user_id, session_id, step, event_id`` then :data:`MENTAL_REWARD_COLUMNS`:
            ``mental_reward`` is r* of the logged response, ``mental_reward_quantiles`` its N
            sorted quantiles ``lambda_i(s, a) - gamma V_i(s'_a)``, ``mental_reward_by_action``
            r* of every action, ``mental_reward_positive``/``_negative`` r*(s, a^P)/r*(s, a^N)
            (Eq. 9), ``counterfactual_action`` the other response (binary actions) and its
            reward, ``q_value`` Q(s, a), ``next_value`` V(s'_a).
        """
        out = self.mental_reward_arrays(trajectories)
        n = trajectories.height
        rows = np.arange(n)
        action = out["action"]
        counterfactual = 1 - action if self.config.n_actions == 2 else None
        columns: dict[str, Any] = {key: trajectories[key] for key in KEY_COLUMNS}
        columns.update({
            "response": pl.Series(action, dtype=pl.Int64),
            "mental_reward": pl.Series(out["by_action"][rows, action], dtype=pl.Float64),
            "mental_reward_quantiles": pl.Series(
                out["quantiles"][rows, action].tolist(), dtype=pl.List(pl.Float64)
            ),
            "mental_reward_by_action": pl.Series(out["by_action"].tolist(),
                                                 dtype=pl.List(pl.Float64)),
            "mental_reward_positive": pl.Series(out["by_action"][:, 1], dtype=pl.Float64),
            "mental_reward_negative": pl.Series(out["by_action"][:, 0], dtype=pl.Float64),
            "counterfactual_action": pl.Series(counterfactual, dtype=pl.Int64)
            if counterfactual is not None else pl.Series([None] * n, dtype=pl.Int64),
            "counterfactual_mental_reward": pl.Series(
                out["by_action"][rows, counterfactual], dtype=pl.Float64
            ) if counterfactual is not None else pl.Series([None] * n, dtype=pl.Float64),
            "q_value": pl.Series(out["q"][rows, action], dtype=pl.Float64),
            "next_value": pl.Series(out["next_value"][rows, action], dtype=pl.Float64),
            "done": pl.Series(out["done"], dtype=pl.Boolean),
        })
        return pl.DataFrame(columns)

    def write_mental_rewards(self, trajectories: Trajectories, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`mental_rewards` as Parquet atomically (``mental_rewards.parquet``).

        A :class:`ParquetRowGroups` is scored one row group at a time, every row group of every
        file in order (whatever its rank), and written one row group per input row group.
        """
        if isinstance(trajectories, pl.DataFrame):
            return atomic_write_parquet(self.mental_rewards(trajectories), Path(path))
        self._check_fitted()
        everything = trajectories.shard(0, 1)
        if not everything.groups:
            raise ValueError(f"{everything.paths[0]}: no row groups to score.")
        tables = (self.mental_rewards(pl.from_arrow(table)).to_arrow()
                  for table in everything.tables(self._columns(everything)))
        first = next(tables)
        with atomic_parquet_writer(path, first.schema) as writer:
            writer.write_table(first)
            for table in tables:
                writer.write_table(table)
        return Path(path)

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``model.pt`` (state_dict), ``config.json`` and ``manifest.json`` atomically.

        The state dict is the network's own (never a DDP wrapper's), so an artifact is the same
        whatever the number of processes that trained it; the manifest's ``runtime`` records
        them (:func:`offline_rl.artifacts.runtime_record`). In a process group call it on rank
        0 only (:func:`offline_rl.runtime.on_main_rank`).
        """
        self._check_fitted()
        return save_artifact(
            directory,
            artifact_format=ARTIFACT_FORMAT,
            version=ARTIFACT_VERSION,
            state={name: value.cpu() for name, value in self.network_.state_dict().items()},
            config=self.config.to_dict(),
            fitted={
                "items": list(self.items_.values),
                "categories": list(self.categories_.values),
                "action_feature_dim": int(self.network_.encoder.action_features.shape[1]),
                "history_length": self.history_length_,
                "context_dim": self.context_dim_,
                "n_rows": self.n_rows_,
                "n_validation_rows": self.n_validation_rows_,
                "steps": self.steps_,
                "fit_seconds": self.fit_seconds_,
                "samples_per_second": self.samples_per_second_,
                "loss_curve": self.loss_curve_,
                "validation_curve": self.validation_curve_,
                "best_step": self.best_step_,
                "runtime": self.runtime_,
            },
            manifest={
                "seed": self.config.seed,
                "rows": self.n_rows_,
                "validation_rows": self.n_validation_rows_,
                "final_loss": self.loss_curve_[-1] if self.loss_curve_ else None,
                "best_validation_loss": min((v for _, v in self.validation_curve_), default=None),
            },
            runtime=self.runtime_,
        )

    @classmethod
    def load(cls, directory: str | os.PathLike[str], *, device: str | None = None) -> QRIQL:
        """Rebuild a fitted learner from :meth:`save`'s folder (``weights_only=True``).

        The model runs on ``device`` ('auto', 'cpu' or 'cuda'), by default the saved config's.
        Artifacts written before the validation split and runtime record existed load with
        an empty validation curve and an unknown runtime.
        """
        document, state = load_artifact(directory, artifact_format=ARTIFACT_FORMAT, name="QRIQL")
        config = QRIQLConfig.from_dict(document["config"])
        learner = cls(config if device is None else config.replace(device=device))
        fitted = document["fitted"]
        learner.items_ = IdIndex(tuple(fitted["items"]))
        learner.categories_ = IdIndex(tuple(fitted["categories"]))
        learner.history_length_ = int(fitted["history_length"])
        learner.context_dim_ = int(fitted["context_dim"])
        learner.n_rows_ = int(fitted["n_rows"])
        learner.n_validation_rows_ = int(fitted.get("n_validation_rows", 0))
        learner.steps_ = int(fitted["steps"])
        learner.fit_seconds_ = float(fitted["fit_seconds"])
        learner.samples_per_second_ = float(fitted["samples_per_second"])
        learner.loss_curve_ = list(fitted["loss_curve"])
        learner.validation_curve_ = [list(pair) for pair in fitted.get("validation_curve", [])]
        learner.best_step_ = fitted.get("best_step")
        learner.runtime_ = dict(fitted.get("runtime") or {})
        lookup = np.zeros(learner.items_.size, dtype=np.int64)
        features = np.zeros((learner.items_.size, int(fitted["action_feature_dim"])),
                            dtype=np.float32)
        learner._device = resolve_device(learner.config.device)
        learner.network_ = learner._new_network(lookup, features)
        learner.network_.load_state_dict(state)
        learner.network_.to(learner._device).eval()
        return learner
