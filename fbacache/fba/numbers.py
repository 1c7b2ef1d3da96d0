"""The one check every number of the maintenance config (and CLI) goes through.

JSON hands us values that compare in surprising ways: ``NaN`` is neither above
nor below any limit (so ``ttl_hours: NaN`` never expired anything), ``1e400``
parses to ``inf`` (``int(inf)`` raises ``OverflowError`` deep inside a run) and
``true`` is an ``int`` to Python. Instead of one hand-written test per key, each
key names a :class:`NumberRule` in :data:`RULES` and :func:`check_number`
applies it, so every key refuses the same things with the same
:class:`~fbacache.errors.ConfigError`, naming the key.

Platform limit: a value converted to its base unit (seconds or bytes) must fit
in a signed machine word (``sys.maxsize``), the range of ``off_t``/``time_t`` and
of Python's sequence indices on this platform.

Example:
    >>> check_number(336, "cache.ttl_hours")
    336.0
    >>> check_number(float("nan"), "cache.cache_types.amazon_cache.ttl_hours")
    Traceback (most recent call last):
    ...
    fbacache.errors.ConfigError: cache.cache_types.amazon_cache.ttl_hours: expected a number, got NaN
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any, Optional, Union

from fbacache.errors import ConfigError

__all__ = ["NumberRule", "RULES", "check_number", "rule_for"]


@dataclass(frozen=True)
class NumberRule:
    """How one numeric setting is checked.

    Attributes:
        unit: what the number counts, for messages (``"hours"``, ``"MiB"``...).
        scale: base units (seconds or bytes) per ``unit``; 1 for plain counts.
        integer: only whole numbers (``7`` or ``7.0``; ``7.5`` is refused).
        positive: ``0`` is refused too (a zero TTL would expire every file at once).
        sentinel: one extra allowed value with a special meaning (``-1``: never expires).
    """

    unit: str
    scale: float = 1.0
    integer: bool = False
    positive: bool = False
    sentinel: Optional[int] = None

    @property
    def maximum(self) -> float:
        """The largest accepted value: ``sys.maxsize`` base units."""
        return sys.maxsize / self.scale


HOUR, DAY, MIB, GIB = 3600.0, 86400.0, float(1 << 20), float(1 << 30)

_TTL = NumberRule("hours", HOUR, positive=True, sentinel=-1)
_COUNT = NumberRule("backups", integer=True)

#: The rule of every numeric key of the ``cache`` section, by key name.
RULES: dict[str, NumberRule] = {
    "ttl_hours": _TTL,
    "default_ttl_hours": _TTL,
    "max_size_mb": NumberRule("MiB", MIB),
    "max_total_size_gb": NumberRule("GiB", GIB),
    "backup_retention_days": NumberRule("days", DAY),
    "validation_interval_hours": NumberRule("hours", HOUR),
    "optimization_interval_hours": NumberRule("hours", HOUR),
    "daily_backups": _COUNT,
    "weekly_backups": _COUNT,
    "monthly_backups": _COUNT,
}


def rule_for(field: str) -> NumberRule:
    """The rule of a dotted config path, found by its last component.

    Raises:
        KeyError: no rule for that key (a programming error: every numeric key has one).
    """
    return RULES[field.rsplit(".", 1)[-1]]


def _describe(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        # json.loads turns any literal beyond the float range (1e400) into infinity
        return "infinity (a literal such as 1e400 is beyond the float range)"
    return repr(value)


def check_number(value: Any, field: str,
                 rule: Optional[NumberRule] = None) -> Union[int, float]:
    """Validate one numeric setting and return it (``int`` for integer rules, else ``float``).

    Args:
        value: the value as parsed from JSON (or the command line).
        field: dotted path of the key, used in the error and, without ``rule``,
            to look the rule up in :data:`RULES`.
        rule: the rule to apply instead of the one of ``field``'s key.

    Raises:
        ConfigError: ``value`` is not a number (bools, strings, ``None``), is NaN or
            infinite, is negative (other than the rule's sentinel), is zero where the
            rule wants a positive value, is fractional where it wants a whole number,
            or exceeds the platform limit. ``field`` is the error's ``field``.

    Example:
        >>> check_number(-1, "ttl_hours"), check_number(7.0, "daily_backups")
        (-1.0, 7)
    """
    rule = rule or rule_for(field)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(field, f"expected a number, got {type(value).__name__} {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(field, f"expected a number, got {_describe(value)}")
    if rule.sentinel is not None and value == rule.sentinel:
        return int(value) if rule.integer else float(value)
    lowest = "> 0" if rule.positive else ">= 0"
    if value < 0 or (rule.positive and value == 0):
        extra = f" or {rule.sentinel}" if rule.sentinel is not None else ""
        raise ConfigError(field, f"must be {lowest}{extra}, got {value!r}")
    if value > rule.maximum:
        raise ConfigError(field, f"too large: {value!r} {rule.unit} exceeds this platform's "
                                 f"limit of {rule.maximum:.6g} {rule.unit}")
    if rule.integer:
        if value != int(value):
            raise ConfigError(field, f"expected a whole number, got {value!r}")
        return int(value)
    return float(value)
