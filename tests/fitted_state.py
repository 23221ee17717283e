"""A learner's fitted state, enumerated and compared generically (for tests).

scikit-learn's convention: a fitted attribute is a public attribute whose name ends in ``_``.
:func:`fitted_attributes` lists them without naming any, so a new one cannot be left out of a
save/load or determinism check; :func:`state_differences` compares two values exactly, with
torch modules compared by class, architecture, mode, plain attributes and every tensor of
their ``state_dict``.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
import torch


def fitted_attributes(learner: Any) -> dict[str, Any]:
    """Every public instance attribute whose name ends in ``_``."""
    return {name: value for name, value in vars(learner).items()
            if name.endswith("_") and not name.startswith("_")}


_ATTRIBUTE_LINE = re.compile(r"^([a-z][a-z0-9_]*_)((?:, [a-z][a-z0-9_]*_)*)(?: :.*)?$")


def documented_attributes(cls: type) -> set[str]:
    """The names listed in the numpydoc ``Attributes`` section of ``cls``'s docstring."""
    lines = (inspect.getdoc(cls) or "").splitlines()
    names: set[str] = set()
    inside = False
    for line, following in zip(lines, [*lines[1:], ""], strict=True):
        if following.startswith("---"):
            inside = line.strip() == "Attributes"
            continue
        match = _ATTRIBUTE_LINE.match(line) if inside else None
        if match:
            names.add(match.group(1))
            names.update(name for name in match.group(2).split(", ") if name)
    return names


def state_differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where ``a`` and ``b`` differ (an empty list when they are identical)."""
    if type(a) is not type(b):
        return [f"{path}: type {type(a).__name__} != {type(b).__name__}"]
    if isinstance(a, torch.nn.Module):
        return _module_differences(a, b, path)
    if isinstance(a, torch.Tensor):
        same = a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)
        return [] if same else [f"{path}: tensors differ"]
    if isinstance(a, np.ndarray):
        same = a.shape == b.shape and a.dtype == b.dtype and np.array_equal(
            a, b, equal_nan=a.dtype.kind in "fc")
        return [] if same else [f"{path}: arrays differ"]
    if isinstance(a, pl.DataFrame | pl.Series):
        return [] if a.equals(b) else [f"{path}: frames differ"]
    if isinstance(a, Mapping):
        if list(a) != list(b):
            return [f"{path}: keys {list(a)} != {list(b)}"]
        return [d for key in a for d in state_differences(a[key], b[key], f"{path}[{key!r}]")]
    if isinstance(a, list | tuple):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in state_differences(x, y, f"{path}[{i}]")]
    if dataclasses.is_dataclass(a):
        return [d for field in dataclasses.fields(a)
                for d in state_differences(getattr(a, field.name), getattr(b, field.name),
                                           f"{path}.{field.name}")]
    if isinstance(a, float) and math.isnan(a) and math.isnan(b):
        return []
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def _module_differences(a: torch.nn.Module, b: torch.nn.Module, path: str) -> list[str]:
    if repr(a) != repr(b):
        return [f"{path}: architectures differ"]
    out = []
    for (name, sub_a), (_, sub_b) in zip(a.named_modules(), b.named_modules(), strict=True):
        plain = [key for key in vars(sub_a) if not key.startswith("_")]
        if plain != [key for key in vars(sub_b) if not key.startswith("_")]:
            out.append(f"{path}.{name}: attributes {plain} differ")
            continue
        for key in plain:
            out += state_differences(getattr(sub_a, key), getattr(sub_b, key), f"{path}.{name}.{key}")
    state_a, state_b = a.state_dict(), b.state_dict()
    if list(state_a) != list(state_b):
        return [*out, f"{path}: state_dict keys differ"]
    for key in state_a:
        out += state_differences(state_a[key], state_b[key], f"{path}.state_dict[{key!r}]")
    return out


def fitted_state_differences(a: Any, b: Any, *, ignore: frozenset[str] = frozenset()) -> list[str]:
    """Differences between the fitted attributes of two learners (names, then values)."""
    state_a = {k: v for k, v in fitted_attributes(a).items() if k not in ignore}
    state_b = {k: v for k, v in fitted_attributes(b).items() if k not in ignore}
    if sorted(state_a) != sorted(state_b):
        return [f"fitted attributes {sorted(state_a)} != {sorted(state_b)}"]
    return [d for name in sorted(state_a) for d in state_differences(state_a[name], state_b[name], name)]
