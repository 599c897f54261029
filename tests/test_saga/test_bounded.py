"""The bounded caches of the engine: what was kept lately, emptied when full."""

from __future__ import annotations

from minos.saga._bounded import BoundedCache


def test_keep_returns_what_it_keeps():
    cache: BoundedCache[str, int] = BoundedCache(2)

    assert cache.keep("a", 1) == 1
    assert cache == {"a": 1}


def test_a_full_cache_is_emptied_before_it_keeps_more():
    cache: BoundedCache[str, int] = BoundedCache(2)
    cache.keep("a", 1)
    cache.keep("b", 2)

    cache.keep("c", 3)

    assert cache == {"c": 3}


def test_keeping_a_known_key_again_in_a_full_cache_starts_over_too():
    cache: BoundedCache[str, int] = BoundedCache(1)
    cache.keep("a", 1)

    cache.keep("a", 2)

    assert cache == {"a": 2}
