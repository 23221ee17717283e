"""One configuration mechanism for every settings object of the toolkit.

A config is a ``@dataclass(frozen=True, kw_only=True)`` that subclasses :class:`Config` and
declares, beside its fields, one table of constraints (``CONSTRAINTS``: field name ->
:class:`Constraint`) and optionally cross-field ``RULES``. Construction validates every field
against the table (in the spirit of scikit-learn's ``_param_validation``), so a bad value is
refused wherever it comes from: Python, a CLI flag, a TOML file or a saved ``config.json``.

Every config shares:

- one error format: ``The 'alpha' parameter of IGLPConfig must be a float in (0, 1e+06].
  Got -1 instead.`` (a :class:`ConfigError`, a ``ValueError``);
- one JSON round trip: :meth:`Config.to_dict` writes every field plus one version key,
  ``schema_version``; :meth:`Config.from_dict` refuses unknown keys, turns JSON lists back into
  tuples, and also reads the legacy key ``version`` that models saved before this module wrote;
- field docstrings (the string literal under each field) available as :func:`field_help`,
  which the CLI uses as ``--help`` text.

Why a table and not ``__post_init__`` code: the constraints are data, so a test can check that
every field of every config has one, the CLI can render them, and a step fingerprint built from
``to_dict()`` covers a new field without anyone remembering to add it.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import functools
import inspect
import math
import numbers
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

#: The one key that carries a config's schema version in :meth:`Config.to_dict`.
VERSION_KEY = "schema_version"
#: Older artifacts wrote the version under this key; :meth:`Config.from_dict` still reads it.
LEGACY_VERSION_KEY = "version"


class ConfigError(ValueError):
    """A setting broke its declared constraint (subclasses ``ValueError``)."""


# ---------------------------------------------------------------------------------- constraints
class Constraint:
    """A rule a field's value must satisfy.

    Subclasses implement :meth:`accepts` (is the value valid?), :attr:`rule` (the rule in
    words, completing "must be ..."), and may override :meth:`normalise` (turn an accepted
    value into its canonical stored form, e.g. a list into a tuple) and :meth:`to_json`.
    """

    rule: str = "valid"

    def accepts(self, value: Any) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def normalise(self, value: Any) -> Any:
        return value

    def to_json(self, value: Any) -> Any:
        return value


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Integer(Constraint):
    """An int (not a bool) in ``[minimum, maximum]``."""

    minimum: int | None = None
    maximum: int | None = None

    @property
    def rule(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return f"an int in [{self.minimum}, {self.maximum}]"
        if self.minimum is not None:
            return f"an int >= {self.minimum}"
        if self.maximum is not None:
            return f"an int <= {self.maximum}"
        return "an int"

    def accepts(self, value: Any) -> bool:
        return (
            _is_int(value)
            and (self.minimum is None or value >= self.minimum)
            and (self.maximum is None or value <= self.maximum)
        )

    def normalise(self, value: Any) -> int:
        return int(value)


@dataclass(frozen=True)
class Real(Constraint):
    """A finite real number (ints accepted, bools not) in an interval.

    ``low_open`` / ``high_open`` make the bound strict; ``None`` leaves that side unbounded.
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    @property
    def rule(self) -> str:
        if self.low is not None and self.high is not None:
            left = "(" if self.low_open else "["
            right = ")" if self.high_open else "]"
            return f"a float in {left}{_number(self.low)}, {_number(self.high)}{right}"
        if self.low is not None:
            return f"a float {'>' if self.low_open else '>='} {_number(self.low)}"
        if self.high is not None:
            return f"a float {'<' if self.high_open else '<='} {_number(self.high)}"
        return "a finite float"

    def accepts(self, value: Any) -> bool:
        if not _is_real(value) or not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (
            self.high is not None and (value > self.high or (self.high_open and value == self.high))
        )

    def normalise(self, value: Any) -> float:
        return float(value)


@dataclass(frozen=True)
class Boolean(Constraint):
    """``True`` or ``False`` (not 0/1, which usually means a mistyped setting)."""

    rule: str = "a bool"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)


@dataclass(frozen=True)
class Choice(Constraint):
    """One of a fixed set of strings."""

    options: tuple[str, ...]

    @property
    def rule(self) -> str:
        return "a str among {" + ", ".join(repr(o) for o in self.options) + "}"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.options


@dataclass(frozen=True)
class Text(Constraint):
    """A string; non-empty unless ``allow_empty``."""

    allow_empty: bool = False

    @property
    def rule(self) -> str:
        return "a str" if self.allow_empty else "a non-empty str"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and (self.allow_empty or bool(value))


@dataclass(frozen=True)
class Date(Constraint):
    """An ISO date ``YYYY-MM-DD`` as a string, or one of ``keywords`` (e.g. 'latest')."""

    keywords: tuple[str, ...] = ()

    @property
    def rule(self) -> str:
        words = " or ".join(repr(k) for k in self.keywords)
        return (f"{words} or " if words else "") + "a date YYYY-MM-DD"

    def accepts(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        if value in self.keywords:
            return True
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return False
        return len(value) == 10


@dataclass(frozen=True)
class Strings(Constraint):
    """A tuple (or list) of strings, stored as a tuple; a bare str is refused.

    A bare string is the classic mistake (``negative_signals="dislike"`` would otherwise
    become the characters ``('d', 'i', ...)``), so it is an error, not a one-element tuple.
    ``options`` restricts the elements; ``min_length`` / ``unique`` constrain the tuple.
    """

    options: tuple[str, ...] | None = None
    min_length: int = 0
    unique: bool = True

    @property
    def rule(self) -> str:
        what = "a tuple of str"
        if self.options is not None:
            what += " among {" + ", ".join(repr(o) for o in self.options) + "}"
        if self.min_length:
            what += f" with at least {self.min_length} element(s)"
        if self.unique:
            what += " without repeats"
        return what

    def accepts(self, value: Any) -> bool:
        if isinstance(value, str) or not isinstance(value, tuple | list):
            return False
        if not all(isinstance(item, str) for item in value):
            return False
        if self.options is not None and any(item not in self.options for item in value):
            return False
        if self.unique and len(set(value)) != len(value):
            return False
        return len(value) >= self.min_length

    def normalise(self, value: Any) -> tuple[str, ...]:
        return tuple(value)

    def to_json(self, value: Any) -> list[str]:
        return list(value)


@dataclass(frozen=True)
class Reals(Constraint):
    """A tuple (or list) of finite reals, each satisfying ``element``: of ``length`` elements,
    or of any non-zero number of them when ``length`` is None."""

    length: int | None = None
    element: Real = Real()
    total: float | None = None
    """If set, the elements must sum to this (within 1e-9)."""

    @property
    def rule(self) -> str:
        count = "a non-empty tuple of" if self.length is None else f"a tuple of {self.length}"
        text = f"{count} numbers, each {self.element.rule}"
        if self.total is not None:
            text += f", summing to {_number(self.total)}"
        return text

    def accepts(self, value: Any) -> bool:
        if isinstance(value, str) or not isinstance(value, tuple | list) or not value:
            return False
        if self.length is not None and len(value) != self.length:
            return False
        if not all(self.element.accepts(item) for item in value):
            return False
        return self.total is None or abs(math.fsum(value) - self.total) <= 1e-9

    def normalise(self, value: Any) -> tuple[float, ...]:
        return tuple(float(item) for item in value)

    def to_json(self, value: Any) -> list[float]:
        return list(value)


@dataclass(frozen=True)
class Table(Constraint):
    """A mapping with str keys and JSON-able values (free-form options of another component,
    validated there). Stored as a plain ``dict``."""

    rule: str = "a mapping with str keys"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, Mapping) and all(isinstance(k, str) for k in value)

    def normalise(self, value: Any) -> dict[str, Any]:
        return dict(value)


@dataclass(frozen=True)
class Optional(Constraint):
    """``None`` or a value satisfying ``inner``."""

    inner: Constraint

    @property
    def rule(self) -> str:
        return f"None or {self.inner.rule}"

    def accepts(self, value: Any) -> bool:
        return value is None or self.inner.accepts(value)

    def normalise(self, value: Any) -> Any:
        return None if value is None else self.inner.normalise(value)

    def to_json(self, value: Any) -> Any:
        return None if value is None else self.inner.to_json(value)


@dataclass(frozen=True)
class Rule:
    """A cross-field rule: ``holds(config)`` must be true, else ``field`` "must be ``text``"."""

    field: str
    text: str
    holds: Callable[[Any], bool]


# ---------------------------------------------------------------------------------- base class
class Config:
    """Base of every frozen config dataclass; see the module docstring.

    Subclasses set ``CONSTRAINTS`` (one entry per field), optionally ``RULES`` and
    ``SCHEMA_VERSION``, and must be ``@dataclass(frozen=True, kw_only=True)``.
    """

    CONSTRAINTS: ClassVar[Mapping[str, Constraint]] = {}
    RULES: ClassVar[tuple[Rule, ...]] = ()
    SCHEMA_VERSION: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        cls = type(self)
        _check_table(cls)
        for name, constraint in cls.CONSTRAINTS.items():
            value = getattr(self, name)
            if not constraint.accepts(value):
                raise _error(cls, name, constraint.rule, value)
            object.__setattr__(self, name, constraint.normalise(value))
        for rule in cls.RULES:
            if not rule.holds(self):
                raise _error(cls, rule.field, rule.text, getattr(self, rule.field))

    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON-able values, with ``schema_version`` first."""
        cls = type(self)
        out: dict[str, Any] = {VERSION_KEY: cls.SCHEMA_VERSION}
        for item in dataclasses.fields(self):
            out[item.name] = cls.CONSTRAINTS[item.name].to_json(getattr(self, item.name))
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        """Inverse of :meth:`to_dict`: unknown keys and another schema version are errors."""
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"{cls.__name__}.from_dict expects a mapping of settings. Got {data!r} instead."
            )
        settings = dict(data)
        versions = {settings.pop(key) for key in (VERSION_KEY, LEGACY_VERSION_KEY) if key in settings}
        for version in versions:
            if str(version) != cls.SCHEMA_VERSION:
                raise ConfigError(
                    f"The {VERSION_KEY!r} of {cls.__name__} must be {cls.SCHEMA_VERSION!r}. "
                    f"Got {version!r} instead."
                )
        names = [item.name for item in dataclasses.fields(cls)]
        unknown = sorted(set(settings) - set(names))
        if unknown:
            raise ConfigError(
                f"Unknown {cls.__name__} setting(s) {unknown}; valid settings: {sorted(names)}."
            )
        return cls(**settings)

    def replace(self, **changes: Any) -> Any:
        """A copy with ``changes`` applied (validated like any construction)."""
        return dataclasses.replace(self, **changes)


def _error(cls: type, name: str, rule: str, value: Any) -> ConfigError:
    return ConfigError(f"The {name!r} parameter of {cls.__name__} must be {rule}. Got {value!r} instead.")


@functools.cache
def _check_table(cls: type) -> None:
    """A config's constraint table names exactly its fields (checked once per class)."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} must be a dataclass to use offline_rl.config.Config.")
    names = {item.name for item in dataclasses.fields(cls)}
    declared = set(cls.CONSTRAINTS)
    if names != declared:
        raise TypeError(
            f"{cls.__name__}.CONSTRAINTS must name every field exactly once: "
            f"missing {sorted(names - declared)}, extra {sorted(declared - names)}."
        )
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    if not params.frozen:
        raise TypeError(f"{cls.__name__} must be declared with @dataclass(frozen=True, kw_only=True).")


@functools.cache
def field_help(cls: type) -> dict[str, str]:
    """The docstring written under each field of ``cls`` (and its dataclass bases), by name.

    Used as CLI ``--help`` text so the help and the code cannot drift apart.
    """
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass) or klass is object:
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
        for node, following in zip(body, body[1:], strict=False):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                docs[node.target.id] = " ".join(following.value.value.split())
    return docs


__all__ = [
    "LEGACY_VERSION_KEY",
    "VERSION_KEY",
    "Boolean",
    "Choice",
    "Config",
    "ConfigError",
    "Constraint",
    "Date",
    "Integer",
    "Optional",
    "Real",
    "Reals",
    "Rule",
    "Strings",
    "Table",
    "Text",
    "field_help",
]
