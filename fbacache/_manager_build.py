"""What a :class:`fbacache.CacheManager` is built from: its codec and its backend.

One job: turn a :class:`fbacache.config.CacheManagerConfig` into the codec (None when
objects are stored as they are) and the storage backend, refusing the combinations that
cannot work or are unsafe, before anything is created. The manager composes the result;
this module does not know the manager.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from fbacache.backends import get_backend_class
from fbacache.backends.base import Backend, BackendSettings
from fbacache.codecs import Codec, make_codec
from fbacache.config import CacheManagerConfig
from fbacache.errors import ConfigError, UnsafeConfiguration

__all__ = ["build_codec_and_backend"]


def _make_signer(config: CacheManagerConfig) -> Any:
    key, old = config.signing_key_bytes()
    if key is None:
        return None
    try:
        from fbacache.signing import Signer
    except ImportError as exc:  # pragma: no cover - signing ships with the package
        raise ConfigError("signing_key", f"payload signing is unavailable: {exc}") from exc
    return Signer(key, old)


def build_codec_and_backend(config: CacheManagerConfig, timer: Callable[[], float]
                            ) -> tuple[Optional[Codec], Backend]:
    """``(codec, backend)`` for ``config``; ``timer`` is the backend's monotonic clock.

    The codec is None for ``serialization_format='none'`` (objects stored as they are).
    Raises :class:`ConfigError` for settings the backend refuses (its optional
    ``check_manager_config`` hook) and for 'none' on a backend that stores bytes, and
    :class:`UnsafeConfiguration` for pickle on a shared backend without a signing key.
    """
    backend_cls = get_backend_class(config.backend_type)
    check = getattr(backend_cls, "check_manager_config", None)
    if check is not None:  # optional hook: a backend refusing settings it cannot store
        check(config)
    fmt = config.resolved_format(backend_cls.stores_objects)
    if fmt == "none" and not backend_cls.stores_objects:
        raise ConfigError("serialization_format",
                          f"'none' stores live objects; backend {config.backend_type!r} "
                          "stores bytes (use msgpack or json)")
    signer = _make_signer(config)
    if backend_cls.shared and fmt == "pickle" and signer is None:
        raise UnsafeConfiguration(
            f"pickle on the shared backend {config.backend_type!r} would unpickle bytes "
            "other processes can write: set signing_key, or use msgpack/json")
    codec: Optional[Codec] = None
    if fmt != "none":
        codec = make_codec(
            fmt, config.compression, threshold=config.compression_threshold,
            level=config.compression_level, max_encoded_size=config.max_entry_size,
            max_decoded_size=config.max_decompressed_size, signer=signer)
    backend: Backend = backend_cls(BackendSettings(
        max_entries=config.max_entries, max_bytes=config.max_bytes,
        eviction_policy=config.eviction_policy, key_prefix=config.key_prefix,
        timer=timer, seed=config.seed, options=dict(config.backend_config),
        max_item_size=config.max_decompressed_size))
    return codec, backend
