"""The one input format every CTR backbone reads (numpy; the classifier makes tensors).

A row is (user, history items, history categories, candidate item, candidate category, label).
Frames with ``user_id``, ``history_items``, ``item`` and a label column (``response`` in
``user_trajectories``, ``label`` in the Amazon DIN format) are encoded with vocabularies fitted
on the training frame (0 = padding, 1 = unknown).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from offline_rl.frames import check_frame
from offline_rl.qriql.features import UNKNOWN, IdIndex, category_lookup, padded_lists


@dataclass(frozen=True, eq=False)
class CTRArrays:
    """Encoded rows: int64 ``user`` (n,), ``history`` (n, L), ``history_category`` (n, L),
    ``item`` (n,), ``category`` (n,), float32 ``label`` (n,)."""

    user: np.ndarray
    history: np.ndarray
    history_category: np.ndarray
    item: np.ndarray
    category: np.ndarray
    label: np.ndarray

    def __len__(self) -> int:
        return int(self.item.shape[0])


@dataclass(frozen=True)
class CTREncoder:
    """Vocabularies of users, items and categories fitted on a training frame."""

    users: IdIndex
    items: IdIndex
    categories: IdIndex
    category_of_item: tuple[int, ...]
    history_length: int

    @classmethod
    def fit(
        cls,
        frame: pl.DataFrame,
        *,
        item_categories: Mapping[Any, Any] | pl.DataFrame | None = None,
        history_length: int = 10,
    ) -> CTREncoder:
        check_frame(frame, ["user_id", "history_items", "item"], where="MTRec: CTREncoder.fit")
        items = IdIndex.fit(pl.concat([frame["item"], frame["history_items"].explode()]))
        categories, lookup = category_lookup(items, item_categories)
        return cls(IdIndex.fit(frame["user_id"]), items, categories,
                   tuple(int(x) for x in lookup), history_length)

    def encode(self, frame: pl.DataFrame, *, label: str | None = None) -> CTRArrays:
        """Encode ``frame``; ``label`` defaults to ``label`` or else ``response``."""
        check_frame(frame, ["user_id", "history_items", "item"], where="MTRec: CTREncoder.encode")
        if label is None:
            label = "label" if "label" in frame.columns else "response"
        lookup = np.asarray(self.category_of_item, dtype=np.int64)
        history, mask = padded_lists(frame["history_items"], self.history_length)
        history = self.items.encode(history, null_mask=~mask)
        item = self.items.encode(frame["item"].to_numpy())
        labels = (frame[label].to_numpy().astype(np.float32) if label in frame.columns
                  else np.zeros(frame.height, dtype=np.float32))
        return CTRArrays(
            user=self.users.encode(frame["user_id"].to_numpy()),
            history=history,
            history_category=lookup[history],
            item=item,
            category=lookup[item],
            label=labels,
        )

    @property
    def sizes(self) -> dict[str, int]:
        return {"num_users": self.users.size, "num_items": self.items.size,
                "num_categories": max(self.categories.size, UNKNOWN + 1)}

