"""``rediss://`` against a real TLS-enabled redis-server (certificates from ``trustme``).

The server listens on a plaintext port (for the fixture's readiness check) and on a TLS port;
the tests use only the TLS one. The CA is passed the way redis-py reads it from a URL
(``?ssl_ca_certs=...``); docs/redis.md, "TLS", documents this.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from fbacache import CacheManager
from fbacache.testing import RedisServer
from fbacache.testing.redis_server import free_port

trustme = pytest.importorskip("trustme")

QUICK = {"retry_attempts": 1, "failure_threshold": 1, "cooldown_base": 60.0,
         "cooldown_cap": 60.0, "socket_timeout": 2.0, "connect_timeout": 2.0}


@pytest.fixture
def tls_server(redis_server_factory: Any, tmp_path: Path) -> tuple[RedisServer, int, Path]:
    """A server with a TLS port; returns it, the TLS port and the CA's PEM file."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = (tmp_path / n for n in ("server.pem", "server.key", "ca.pem"))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    tls_port = free_port()
    server = redis_server_factory(extra_args=[
        "--tls-port", str(tls_port), "--tls-cert-file", str(cert_file),
        "--tls-key-file", str(key_file), "--tls-ca-cert-file", str(ca_file),
        "--tls-auth-clients", "no"])
    return server, tls_port, ca_file


def tls_url(port: int, ca_file: Path) -> str:
    return f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca_file}&ssl_cert_reqs=required"


@pytest.mark.parametrize("tiered", [False, True], ids=["redis", "tiered"])
def test_rediss_url_reaches_a_tls_server(tls_server: Any, tiered: bool) -> None:
    server, port, ca_file = tls_server
    with CacheManager.from_url(tls_url(port, ca_file), tiered=tiered, key_prefix="tls",
                               backend_config=QUICK) as cache:
        assert cache.set("k", {"v": 1}) and cache.get("k") == {"v": 1}
        assert cache.get_metrics()["backend_state"] == "redis"
        if tiered:  # the subscriber speaks TLS too: the channel comes up and L1 is used
            backend = cache.backend
            assert backend.bus.wait_up(10.0) and backend.l1_enabled
        cache.close()
    # the value went over TLS into the same server the plaintext port serves
    assert server.client().dbsize() >= 1


def test_an_untrusted_certificate_is_refused_not_downgraded(tls_server: Any, tmp_path: Path,
                                                            caplog: Any) -> None:
    _, port, _ = tls_server
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))  # not the CA that signed the server
    caplog.set_level(logging.WARNING, logger="fbacache")
    with CacheManager.from_url(tls_url(port, other_ca), key_prefix="tls",
                               backend_config=QUICK) as cache:
        assert cache.set("k", 1) and cache.get("k") == 1     # served by the fallback
        assert cache.get_metrics()["backend_state"] == "fallback"
        cache.close()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("fbacache")]
    assert any("cannot reach the server" in m and "certificate" in m.lower() for m in lines), lines


def test_a_certificate_for_another_host_is_refused(redis_server_factory: Any, tmp_path: Path,
                                                   caplog: Any) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("cache.example.com")  # valid, trusted, but not for 127.0.0.1
    cert_file, key_file, ca_file = (tmp_path / n for n in ("server.pem", "server.key", "ca.pem"))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    port = free_port()
    redis_server_factory(extra_args=["--tls-port", str(port), "--tls-cert-file", str(cert_file),
                                     "--tls-key-file", str(key_file), "--tls-auth-clients", "no"])
    caplog.set_level(logging.WARNING, logger="fbacache")
    with CacheManager.from_url(tls_url(port, ca_file), key_prefix="tls",
                               backend_config=QUICK) as cache:
        assert cache.set("k", 1) and cache.get_metrics()["backend_state"] == "fallback"
        cache.close()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("fbacache")]
    assert any("cannot reach the server" in m and "not valid for '127.0.0.1'" in m for m in lines), lines
