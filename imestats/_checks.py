"""Argument checks shared by the public functions of imestats.

Each check raises ValueError with a message that starts with the name of the offending
argument, so a caller sees which input was wrong and why, instead of a silent wrong number
or an error from deep inside numpy or scipy.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def check_level(level: float, name: str = "level") -> float:
    """A confidence level (or any probability that must lie strictly inside (0, 1)) as float."""
    try:
        value = float(level)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a number strictly between 0 and 1, got {level!r}"
        ) from None
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be strictly between 0 and 1, got {level!r}")
    return value


def check_scalar(
    value: float,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
) -> float:
    """A finite number, optionally at least (or above, ``low_inclusive=False``) ``low`` and at
    most ``high``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (number < low if low_inclusive else number <= low):
        relation = ">=" if low_inclusive else ">"
        raise ValueError(f"{name} must be {relation} {low:g}, got {value!r}")
    if high is not None and number > high:
        raise ValueError(f"{name} must be <= {high:g}, got {value!r}")
    return number


def float_array(
    values: ArrayLike,
    name: str,
    *,
    ndim: int | None = None,
    nonempty: bool = False,
    allow_nan: bool = False,
) -> np.ndarray:
    """``values`` as a float array; refuses text, the wrong dimension, emptiness and (unless
    ``allow_nan``) missing or infinite values."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must hold numbers") from None
    if ndim is not None and array.ndim != ndim:
        wanted = "one-dimensional" if ndim == 1 else f"{ndim}-dimensional"
        raise ValueError(f"{name} must be {wanted}, got shape {array.shape}")
    if nonempty and array.size == 0:
        raise ValueError(f"{name} is empty: need at least one value")
    if not allow_nan:
        bad = ~np.isfinite(array)
        if bad.any():
            raise ValueError(f"{name} has {int(bad.sum())} missing or infinite values")
    return array


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(np.ravel(mask))[0])


def _show(array: np.ndarray, at: int) -> str:
    return repr(np.ravel(array)[at].item())


def check_nonnegative(array: np.ndarray, name: str) -> np.ndarray:
    """Refuse negative values (NaN passes: refuse it with :func:`float_array` if needed)."""
    negative = array < 0
    if np.any(negative):
        at = _first(negative)
        raise ValueError(f"{name} must be >= 0; position {at} has {_show(array, at)}")
    return array


def check_positive(array: np.ndarray, name: str) -> np.ndarray:
    """Refuse values <= 0 (NaN passes)."""
    bad = array <= 0
    if np.any(bad):
        at = _first(bad)
        raise ValueError(f"{name} must be > 0; position {at} has {_show(array, at)}")
    return array


def count_array(
    values: ArrayLike,
    name: str,
    *,
    whole: bool = True,
    ndim: int | None = None,
    nonempty: bool = False,
) -> np.ndarray:
    """Counts as a float array: finite, >= 0 and (with ``whole``) whole numbers."""
    array = float_array(values, name, ndim=ndim, nonempty=nonempty)
    bad = array < 0
    if whole:
        bad |= array != np.round(array)
    if np.any(bad):
        at = _first(bad)
        kind = "non-negative whole numbers (counts)" if whole else "values >= 0"
        raise ValueError(f"{name} must hold {kind}; position {at} has {_show(array, at)}")
    return array


def check_at_most(events: np.ndarray, trials: np.ndarray, events_name: str, trials_name: str):
    """Refuse events above trials (arrays of one shape, or broadcastable)."""
    above = events > trials
    if np.any(above):
        events_b, trials_b = np.broadcast_arrays(events, trials)
        at = _first(np.broadcast_to(above, events_b.shape))
        raise ValueError(
            f"{events_name} must not exceed {trials_name}; position {at} has "
            f"{events_name}={_show(events_b, at)} > {trials_name}={_show(trials_b, at)}"
        )


def check_probabilities(array: np.ndarray, name: str, *, open_interval: bool = False):
    """Refuse values outside [0, 1] (or (0, 1) with ``open_interval``); NaN passes."""
    if open_interval:
        bad = (array <= 0) | (array >= 1)
        where = "strictly between 0 and 1"
    else:
        bad = (array < 0) | (array > 1)
        where = "in [0, 1]"
    if np.any(bad):
        at = _first(bad)
        raise ValueError(f"{name} must lie {where}; position {at} has {_show(array, at)}")
    return array


def same_shape(**arrays: np.ndarray) -> None:
    """Refuse arrays of different shapes (one value per unit in each)."""
    shapes = {name: np.shape(array) for name, array in arrays.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"{', '.join(shapes)} must have the same shape, got {listed}")


def same_length(**arrays) -> None:
    """Refuse sequences of different lengths."""
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"inputs differ in length: {lengths}")


def broadcast(**arrays: np.ndarray) -> list[np.ndarray]:
    """Broadcast arrays against each other; refuse shapes that do not broadcast."""
    try:
        return list(np.broadcast_arrays(*arrays.values()))
    except ValueError:
        listed = ", ".join(f"{name} {np.shape(array)}" for name, array in arrays.items())
        raise ValueError(
            f"{', '.join(arrays)} must have the same length (or be scalars), got {listed}"
        ) from None
