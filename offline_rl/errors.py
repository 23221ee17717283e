"""Exceptions shared by the whole toolkit.

Both subclass :class:`ValueError` (as scikit-learn's do) so callers that already catch
``ValueError`` keep working.
"""

from __future__ import annotations


class SchemaError(ValueError):
    """Logged data breaks the canonical schema or one of its rules.

    The message always names the file, the column, the row (or an example value), the
    rule broken and what was expected, so that a failing nightly job says what to fix.
    """


class NotFittedError(ValueError):
    """A learner was asked to predict or save before ``fit`` was called."""


class HiddenRewardError(ValueError):
    """A learner was handed the simulation-only ``reward`` column."""


class NoSignalWarning(UserWarning):
    """A fitted IK model never left the no-signal point: its held-out likelihood is no better
    than predicting the logged action uniformly, so the decoded rewards carry no information
    (IGL-P's optimisation trap; more restarts, epochs or data usually help)."""
