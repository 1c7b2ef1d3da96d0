"""fbacache.testing's RedisServer / RedisCluster and the pytest fixtures, against real servers."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster as ClusterClient

from fbacache.errors import ServerProcessError
from fbacache.testing import RedisCluster, RedisServer, RespError, free_port

REPO = Path(__file__).resolve().parents[2]
TESTS_DIR = REPO / "tests"


def _alive(pid: int) -> bool:
    """True if pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.02)
    return False


# --- RedisServer ----------------------------------------------------------------------------------


def test_session_server_is_private_loopback_and_not_persistent(redis_server: RedisServer,
                                                               redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    assert redis_url == f"redis://127.0.0.1:{redis_server.port}/0"
    assert client.ping()
    assert client.info("server")["process_id"] == redis_server.pid
    assert redis_server.version >= (6, 0, 0)
    config = client.config_get("*")
    assert config["save"] == ""
    assert config["appendonly"] == "no"
    assert config["bind"] == "127.0.0.1"
    assert Path(config["dir"]).resolve() == redis_server.dir.resolve()
    client.close()


@pytest.mark.parametrize("round_", [1, 2])
def test_redis_url_is_flushed_between_tests(redis_url: str, round_: int) -> None:
    client = redis.Redis.from_url(redis_url)
    assert client.dbsize() == 0  # whatever the previous round left is gone
    client.set("left-behind", round_)
    client.close()


def test_kill_breaks_connections_and_restart_reuses_the_port(redis_server_factory) -> None:
    server = redis_server_factory()
    port, old_pid = server.port, server.pid
    assert old_pid is not None
    client = redis.Redis.from_url(server.url, socket_timeout=1, retry_on_timeout=False,
                                  retry=None)
    client.set("k", "v")

    server.kill()
    assert server.pid is None and not server.is_running()
    assert _wait_gone(old_pid)
    with pytest.raises(redis.ConnectionError):
        client.get("k")

    server.restart()
    assert server.port == port and server.pid not in (None, old_pid)
    assert client.get("k") is None  # nothing was persisted
    client.set("k", "v2")
    assert client.get("k") == b"v2"
    client.close()


def test_restart_of_a_running_server_and_after_stop(redis_server_factory) -> None:
    server = redis_server_factory()
    first = server.pid
    server.restart()
    assert server.is_running() and server.pid != first
    server.stop()
    with pytest.raises(ServerProcessError):
        server.restart()


def test_pause_holds_commands_and_socket_timeouts_are_honoured(redis_server_factory) -> None:
    server = redis_server_factory()
    fast = redis.Redis.from_url(server.url, socket_timeout=0.2, retry=None)
    patient = redis.Redis.from_url(server.url, socket_timeout=5)
    fast.ping()
    patient.ping()

    server.pause(1.0)
    started = time.monotonic()
    with pytest.raises(redis.TimeoutError):
        fast.get("k")
    assert time.monotonic() - started < 0.9  # gave up on its timeout, not at the pause end

    started = time.monotonic()
    assert patient.ping()  # held until the pause ends
    assert time.monotonic() - started >= 0.5

    # WRITE pauses hold writes only; reads and CLIENT UNPAUSE still run. (An ALL pause also
    # holds the UNPAUSE itself, so it can only run out.)
    server.pause(10.0, mode="WRITE")
    assert fast.get("k") is None
    with pytest.raises(redis.TimeoutError):
        fast.set("k", "v")
    server.unpause()
    started = time.monotonic()
    assert patient.set("k", "v2")
    assert time.monotonic() - started < 5
    fast.close()
    patient.close()


def test_suspend_resume_simulates_a_hung_server(redis_server_factory) -> None:
    server = redis_server_factory()
    client = redis.Redis.from_url(server.url, socket_timeout=0.2, retry=None)
    client.ping()
    server.suspend()
    with pytest.raises(redis.TimeoutError):
        client.ping()
    server.resume()
    assert redis.Redis.from_url(server.url, socket_timeout=2).ping()
    client.close()


def test_stop_is_idempotent_and_removes_everything() -> None:
    with RedisServer() as server:
        pid, directory = server.pid, server.dir
        assert pid is not None and directory.is_dir()
        assert server.command("PING") == "PONG"
    assert _wait_gone(pid)
    assert not directory.exists()
    server.stop()
    with pytest.raises(OSError):
        server.command("PING", timeout=0.5)


def test_stopping_a_suspended_server_works(redis_server_factory) -> None:
    server = redis_server_factory()
    pid = server.pid
    server.suspend()
    server.stop()
    assert _wait_gone(pid)


def test_raw_command_reports_error_replies(redis_server_factory) -> None:
    server = redis_server_factory()
    with pytest.raises(RespError, match="unknown command"):
        server.command("NO-SUCH-COMMAND")
    assert server.command("SET", "n", 5) == "OK"
    assert server.command("INCR", "n") == 6
    assert server.command("GET", "missing") is None
    assert server.command("MGET", "n", "missing") == [b"6", None]


def test_a_taken_port_is_an_error_not_someone_elses_server(redis_server_factory) -> None:
    other = redis_server_factory()
    with pytest.raises(ServerProcessError, match="exited during startup"):
        RedisServer(port=other.port)
    assert other.command("PING") == "PONG"


def test_free_port_with_cluster_bus_offset() -> None:
    port = free_port(also_free_offset=10000)
    assert port + 10000 <= 65535


def test_many_servers_started_concurrently_from_threads() -> None:
    servers: list[RedisServer] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def start() -> None:
        try:
            server = RedisServer()
            with lock:
                servers.append(server)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert not errors
        assert len({s.port for s in servers}) == 6
        for server in servers:  # each port answers with the pid of the server object holding it
            info = server.command("INFO", "server")
            assert f"process_id:{server.pid}".encode() in info
    finally:
        for server in servers:
            server.stop()


_SESSION_SCRIPT = textwrap.dedent("""
    import sys
    from fbacache.testing import RedisServer
    servers = [RedisServer() for _ in range(3)]
    for s in servers:
        assert s.command("SET", "owner", sys.argv[1]) == "OK"
    for s in servers:
        assert s.command("GET", "owner") == sys.argv[1].encode()
    print(" ".join(str(s.port) for s in servers), flush=True)
    if sys.argv[2] == "wait":
        sys.stdin.readline()
    for s in servers:
        s.stop()
""")


def _run_session(tag: str, mode: str = "exit") -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", _SESSION_SCRIPT, tag, mode], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def test_two_sessions_at_once_get_distinct_servers() -> None:
    sessions = [_run_session(f"session-{i}", "wait") for i in range(2)]
    ports = [set(map(int, p.stdout.readline().split())) for p in sessions]  # type: ignore[union-attr]
    for proc in sessions:
        proc.communicate("\n", timeout=30)
        assert proc.returncode == 0
    assert len(ports[0]) == len(ports[1]) == 3
    assert not ports[0] & ports[1]


def test_sigkilled_owner_leaves_no_orphan_server() -> None:
    code = ("from fbacache.testing import RedisServer; import time; s = RedisServer(); "
            "print(s.pid, s.dir, flush=True); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    pid_text, directory = proc.stdout.readline().split()  # type: ignore[union-attr]
    pid = int(pid_text)
    assert _alive(pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _wait_gone(pid), "the watchdog did not kill the orphaned redis-server"
    deadline = time.monotonic() + 10
    while Path(directory).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not Path(directory).exists()


def test_owner_exiting_without_stop_stops_its_servers_at_exit() -> None:
    code = ("from fbacache.testing import RedisServer; s = RedisServer(); "
            "print(s.pid, s.dir, flush=True)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    pid_text, directory = done.stdout.split()
    assert _wait_gone(int(pid_text))
    assert not Path(directory).exists()  # removed by atexit, synchronously


def test_forked_child_exiting_does_not_stop_the_parents_server(redis_server_factory) -> None:
    server = redis_server_factory()
    code = textwrap.dedent("""
        import os, sys
        from fbacache.testing import RedisServer
        s = RedisServer()
        child = os.fork()
        if child == 0:
            sys.exit(0)          # runs atexit handlers in the child
        os.waitpid(child, 0)
        print(s.command("PING"), flush=True)
        s.stop()
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    assert done.stdout.strip() == "PONG"
    assert server.command("PING") == "PONG"


# --- RedisCluster ---------------------------------------------------------------------------------


def test_cluster_spreads_keys_over_three_masters(redis_cluster: RedisCluster,
                                                 redis_cluster_url: str) -> None:
    client = ClusterClient.from_url(redis_cluster_url)
    try:
        assert len(client.get_primaries()) == 3
        for i in range(60):
            client.set(f"key:{i}", i)
        assert [int(client.get(f"key:{i}")) for i in range(60)] == list(range(60))
        per_node = [node.command("DBSIZE") for node in redis_cluster.nodes]
        assert sum(per_node) == 60 and all(count > 0 for count in per_node)

        # Hash tags: only the part in braces is hashed, so these share a slot (and a node).
        tagged = [f"{{user:7}}:field{i}" for i in range(5)]
        assert len({client.keyslot(k) for k in tagged}) == 1
        client.mset({k: "x" for k in tagged})  # multi-key commands need a single slot
        assert client.mget(tagged) == [b"x"] * 5
    finally:
        client.close()


def test_cluster_fixture_is_flushed(redis_cluster: RedisCluster, redis_cluster_url: str) -> None:
    assert sum(node.command("DBSIZE") for node in redis_cluster.nodes) == 0
    client = redis_cluster.client()
    assert client.cluster_info()["cluster_state"] == "ok"
    client.close()


def test_cluster_built_by_hand_without_redis_cli() -> None:
    with RedisCluster(masters=3, use_redis_cli=False) as cluster:
        assert cluster.created_with == "manual"
        client = ClusterClient(host=cluster.startup_nodes[1][0], port=cluster.startup_nodes[1][1])
        for i in range(30):
            client.set(f"k{i}", i)
        assert sum(node.command("DBSIZE") for node in cluster.nodes) == 30
        client.close()
        pids = [node.pid for node in cluster.nodes]
    assert all(_wait_gone(pid) for pid in pids if pid is not None)


# --- the fixtures plugin itself (run in an inner pytest, as a user's project would) ---------


def _inner_pytest(tmp_path: Path, test_body: str,
                  env: dict[str, str]) -> subprocess.CompletedProcess:
    (tmp_path / "conftest.py").write_text(
        f"import sys\nsys.path.insert(0, {str(TESTS_DIR)!r})\n"
        "pytest_plugins = ['redis_fixtures']\n")
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(test_body))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**env, "PYTHONPATH": str(REPO), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})


def _env_without_redis() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"FBACACHE_REDIS_SERVER", "FBACACHE_REQUIRE_REDIS"}}
    env["PATH"] = "/nonexistent"
    env["FBACACHE_INSTALL_REDIS"] = "0"
    return env


def test_fixtures_skip_without_redis_by_default(tmp_path: Path) -> None:
    body = "def test_uses_redis(redis_url):\n    pass\n"
    done = _inner_pytest(tmp_path, body, _env_without_redis())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout and "redis-server is not installed" in done.stdout


def test_fixtures_fail_without_redis_when_required(tmp_path: Path) -> None:
    body = "def test_uses_redis(redis_url):\n    pass\n"
    done = _inner_pytest(tmp_path, body, {**_env_without_redis(), "FBACACHE_REQUIRE_REDIS": "1"})
    assert done.returncode != 0
    assert "1 error" in done.stdout
    assert "FBACACHE_REQUIRE_REDIS=1 but redis-server is not installed" in done.stdout


def test_fixtures_mark_tests_as_redis(tmp_path: Path) -> None:
    body = """
        def test_uses_redis(redis_url):
            import redis
            assert redis.Redis.from_url(redis_url).ping()
        def test_plain():
            pass
    """
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\n")
    done = _inner_pytest(tmp_path, body, dict(os.environ))
    assert "2 passed" in done.stdout, done.stdout + done.stderr
    deselected = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not redis",
         str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert "1 passed, 1 deselected" in deselected.stdout, deselected.stdout


def test_redis_url_recovers_a_killed_or_paused_session_server(tmp_path: Path) -> None:
    body = """
        import time
        import redis

        def test_a_kills(redis_server, redis_url):
            redis_server.kill()

        def test_b_pauses_everything(redis_server, redis_url):
            assert redis.Redis.from_url(redis_url).ping()  # restarted after test_a
            redis_server.pause(60)                          # an ALL pause cannot be lifted

        def test_c_gets_a_usable_server(redis_url):
            started = time.monotonic()
            client = redis.Redis.from_url(redis_url, socket_timeout=1)
            assert client.set("k", "v") and client.get("k") == b"v"
            assert time.monotonic() - started < 1
    """
    done = _inner_pytest(tmp_path, body, dict(os.environ))
    assert "3 passed" in done.stdout, done.stdout + done.stderr
