"""The decorators are synchronous: they refuse async functions at decoration time (#12 item 20).

``@cache_invalidate`` on an ``async def`` used to clear the keys when the coroutine
was *created*, before the write ran, and even when the write then failed.
"""
from __future__ import annotations

import asyncio
import functools

import pytest

from fbacache import cache_invalidate, cached


async def save(product_id):
    raise RuntimeError("the write failed")


async def stream(product_id):
    yield product_id


class AsyncCallable:
    async def __call__(self, product_id):
        return product_id


ASYNC_FUNCS = [save, stream, functools.partial(save, 1), AsyncCallable()]


@pytest.mark.parametrize("func", ASYNC_FUNCS, ids=["coroutine", "asyncgen", "partial", "callable"])
def test_cache_invalidate_refuses_async_functions(manager, func):
    manager.set("product:1", "cached")
    with pytest.raises(TypeError, match="synchronous"):
        cache_invalidate(keys=["product:*"], manager=manager)(func)
    assert manager.get("product:1") == "cached"  # nothing was cleared, now or later


@pytest.mark.parametrize("func", ASYNC_FUNCS, ids=["coroutine", "asyncgen", "partial", "callable"])
def test_cached_refuses_async_functions(manager, func):
    with pytest.raises(TypeError, match="synchronous"):
        cached(manager=manager)(func)
    with pytest.raises(TypeError, match="synchronous"):
        cached(func)


def test_sync_wrapper_around_a_completed_await_still_works(manager):
    # The supported pattern: await the write, then call a synchronous invalidator.
    manager.set("product:1", "old")

    @cache_invalidate(keys=["product:{product_id}"], manager=manager)
    def invalidate_product(product_id):
        return product_id

    async def update(product_id):
        await asyncio.sleep(0)
        return invalidate_product(product_id)

    assert asyncio.run(update(1)) == 1
    assert manager.get("product:1") is None
