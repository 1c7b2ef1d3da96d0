"""One number check for every setting and argument that takes a number.

Numbers reach fbacache from code, JSON and the environment, so ``True``,
``float("nan")``, ``math.inf``, ``1e400`` (which *is* ``inf``) and ``10**400``
(an int no C API takes) all turn up. Each used to pass a hand-written
"a number but not a bool" check and fail later, far from the setting: an
``OverflowError`` in a waiting thread, a silent miss on every read. Here a
field states what it can honour, and anything else is a :class:`ConfigError`
naming the field, at the moment the value is given.

>>> check_number(2, "max_entries", integer=True, minimum=1)
2
>>> check_number(math.inf, "lock_timeout", minimum=0, inclusive=False, infinite=True)
inf
>>> check_number(float("nan"), "default_ttl", minimum=0)
Traceback (most recent call last):
...
fbacache.errors.ConfigError: default_ttl: must be a number >= 0, got nan
"""
from __future__ import annotations

import math
import numbers
import operator
import sys
import threading
from typing import Any, Optional, Union

from fbacache.errors import ConfigError

__all__ = ["check_number", "check_duration", "MAX_SECONDS", "MAX_WAIT_SECONDS", "MAX_SIZE"]

#: Longest finite duration (TTL, grace) accepted: about 3,170 years. Deadlines are
#: ``clock() + ttl`` floats and Redis takes milliseconds as a 64-bit int, so every
#: backend can honour it; ``math.inf`` (or None where allowed) means "never".
MAX_SECONDS = 1e11
#: Longest finite wait a lock or event accepts on this platform (``threading.TIMEOUT_MAX``).
MAX_WAIT_SECONDS = min(MAX_SECONDS, threading.TIMEOUT_MAX)
#: Largest count or byte size: what fits a C ``Py_ssize_t`` (buffers, the core's counts).
MAX_SIZE = sys.maxsize

Number = Union[int, float]


def check_number(value: Any, field: str, *, integer: bool = False,
                 minimum: Optional[Number] = None, inclusive: bool = True,
                 maximum: Optional[Number] = None, infinite: bool = False) -> Number:
    """``value`` as an int (``integer=True``) or a float, or :class:`ConfigError` on ``field``.

    Refused always: bool, non-numbers, NaN. Refused unless ``infinite``: ``inf``
    and ``-inf``. ``minimum`` is inclusive unless ``inclusive=False``; ``maximum``
    (default :data:`MAX_SIZE` for integers, :data:`MAX_SECONDS` for floats) is
    inclusive. An int too large for a float (``10**400``) is "above the maximum",
    never an ``OverflowError``.
    """
    def bad(what: str) -> ConfigError:
        shown = repr(value)
        if len(shown) > 40:  # 10**400 has 401 digits
            shown = f"{shown[:20]}...({len(shown)} characters)"
        return ConfigError(field, f"must be {what}, got {shown}")

    lo = "" if minimum is None else f" {'>=' if inclusive else '>'} {minimum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise bad(f"{'an integer' if integer else 'a number'}{lo}")
    if integer:
        if not isinstance(value, numbers.Integral):
            raise bad(f"an integer{lo}")
        number: Number = operator.index(value)
        top: Number = MAX_SIZE if maximum is None else maximum
    else:
        try:
            number = float(value)
        except OverflowError:  # an int beyond float range: as good as "too large"
            positive = bool(value > 0)  # type: ignore[operator]  # every Real compares with 0
            if infinite and positive:  # a huge int is not a spelling of inf
                raise bad(f"at most {MAX_SECONDS if maximum is None else maximum:g} "
                          "(use math.inf for 'never')") from None
            number = math.inf if positive else -math.inf
        if math.isnan(number):
            raise bad(f"a number{lo}")
        if math.isinf(number):
            if not infinite:
                raise bad(f"a finite number{lo}")
            if minimum is not None and number < minimum:
                raise bad(f"a number{lo}")
            return number
        top = MAX_SECONDS if maximum is None else maximum
    if minimum is not None and (number < minimum if inclusive else number <= minimum):
        raise bad(f"a number{lo}" if not integer else f"an integer{lo}")
    if number > top:
        hint = " (use math.inf for 'never')" if infinite else ""
        raise bad(f"at most {top:g}{hint}" if isinstance(top, float) else f"at most {top}")
    return number


def check_duration(value: Any, field: str, *, wait: bool = False) -> Optional[float]:
    """Seconds for a TTL (``wait=False``) or a timeout (``wait=True``); None means forever.

    A positive finite number up to :data:`MAX_SECONDS` (:data:`MAX_WAIT_SECONDS`
    for waits) is returned as a float; ``math.inf`` becomes None; anything else
    (zero, negatives, NaN, bool, ``1e300``, ``10**400``) is a :class:`ConfigError`.

    >>> check_duration(1.5, "ttl"), check_duration(math.inf, "timeout", wait=True)
    (1.5, None)
    """
    seconds = check_number(value, field, minimum=0, inclusive=False, infinite=True,
                           maximum=MAX_WAIT_SECONDS if wait else MAX_SECONDS)
    return None if seconds == math.inf else float(seconds)
