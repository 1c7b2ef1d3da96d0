"""The filesystem backend passes the shared backend contract (FBA-specific tests:
test_filesystem_backend.py)."""
from __future__ import annotations

import pytest

from fbacache.backends.base import BackendSettings
from fbacache.backends.filesystem import FilesystemBackend
from fbacache.testing.backend_suite import BackendSuite


class TestFilesystemBackend(BackendSuite):
    """Plain JSON files shared with the FBA agent: no metadata, a corrupt file is left for
    ``maintain repair`` rather than deleted (discard_if never deletes), and an entry lives at
    most the directory's TTL (``ttl_seconds``), also when stored without one."""

    supports_metadata = False
    discards_corrupt = False
    ttl_none_is_forever = False

    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path) -> None:
        self.directory = str(tmp_path / "store")

    def settings(self) -> BackendSettings:
        return BackendSettings(key_prefix="suite", options={"directory": self.directory,
                                                              "ttl_seconds": 3600})

    def make_backend(self, settings: BackendSettings) -> FilesystemBackend:
        return FilesystemBackend(settings)
