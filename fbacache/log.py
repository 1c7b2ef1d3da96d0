"""Logging under the ``fbacache`` logger: quiet by default, never values.

Importing any fbacache module that logs attaches a :class:`logging.NullHandler`
to the ``fbacache`` logger, so nothing is printed (not even warnings through
Python's last-resort handler) until the application configures logging::

    logging.getLogger("fbacache").setLevel(logging.DEBUG)
    logging.getLogger("fbacache").addHandler(logging.StreamHandler())

Child loggers name the component (``fbacache.decorators``, ``fbacache.swr``,
``fbacache.warming``, ``fbacache.prefetch``, ...). Messages carry keys (shortened
by :func:`describe_key`), counts and timings; cached values are never logged.

>>> import logging
>>> any(isinstance(h, logging.NullHandler) for h in logging.getLogger("fbacache").handlers)
True
>>> describe_key("x" * 100)
"'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'...(100 chars)"
"""
from __future__ import annotations

import logging
from typing import Hashable

__all__ = ["LOGGER_NAME", "get_logger", "describe_key"]

LOGGER_NAME = "fbacache"
_MAX_KEY = 64

_root = logging.getLogger(LOGGER_NAME)
if not any(isinstance(h, logging.NullHandler) for h in _root.handlers):
    _root.addHandler(logging.NullHandler())


def get_logger(component: str) -> logging.Logger:
    """The logger ``fbacache.<component>`` (under the quiet ``fbacache`` logger).

    >>> get_logger("warming").name
    'fbacache.warming'
    """
    return logging.getLogger(f"{LOGGER_NAME}.{component}")


def describe_key(key: Hashable) -> str:
    """A bounded description of ``key`` for log messages (keys only, never values)."""
    text = repr(key)
    if len(text) <= _MAX_KEY + 2:
        return text
    size = len(key) if isinstance(key, (str, bytes)) else len(text)
    return f"{text[:_MAX_KEY + 1]}'...({size} chars)"
