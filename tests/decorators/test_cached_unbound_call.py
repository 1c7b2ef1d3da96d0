"""A @cached method called through its class without an instance raises TypeError.

Regression: the message was built from ``CachedFunction.__qualname__``, which
``functools.update_wrapper`` copies only when the wrapped callable has one, so a
cached ``functools.partial`` raised AttributeError instead.
"""
from __future__ import annotations

import functools

import pytest

from fbacache import cached


def _area(self, scale=1):
    return self.side * self.side * scale


def test_unbound_call_of_a_cached_method_names_it(manager):
    class Square:
        def __init__(self, side):
            self.side = side

        @cached(manager=manager)
        def area(self):
            return self.side * self.side

    with pytest.raises(TypeError, match=r"Square\.area\(\) missing its instance argument"):
        Square.area()
    assert Square(3).area() == 9


def test_unbound_call_of_a_cached_partial_is_a_type_error(manager):
    class Square:
        def __init__(self, side):
            self.side = side

        area = cached(manager=manager, key_prefix="square.area")(functools.partial(_area))

    with pytest.raises(TypeError, match=r"square\.area\(\) missing its instance argument"):
        Square.area()
    square = Square(3)
    assert square.area() == square.area() == 9
    assert Square.area.cache_info().hits == 1
