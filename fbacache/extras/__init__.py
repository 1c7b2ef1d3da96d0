"""Optional helpers built only on :class:`~fbacache.manager.CacheManager`'s public API.

``warming`` (pre-load keys), ``static`` (rarely changing reference data), ``monitor`` (health
checks and alerts) and ``prometheus`` (an exporter; needs the ``prometheus`` extra).  Nothing in
the rest of the package imports them.
"""
