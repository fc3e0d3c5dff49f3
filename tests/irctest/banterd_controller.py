"""irctest controller for banterd.

irctest (https://github.com/progval/irctest) starts a fresh server for every
test through a controller: a class that writes the configuration the test asks
for, runs the server on the ports irctest hands it, and tears it down after.
This is banterd's, loaded with ``pytest --controller banterd_controller`` (the
folder holding this file must be on PYTHONPATH; scripts/irctest.sh does that).

Per test it writes ``config.toml`` into a temporary directory (the account
database and logs go there too) from what the test asks for:

* ``password``: ``[server] password``, the server password PASS must give;
* ``ssl``: the port becomes a ``[tls]`` listener with a self-signed certificate;
* ``run_services``: nothing to start, banterd has accounts built in;
* ``faketime``: the server runs with libfaketime preloaded and ``FAKETIME`` set
  to it, when the library is installed (only the wall clock is faked:
  banterd's timers use the monotonic clock). Not through the ``faketime``
  wrapper: it names a semaphore and shared memory after its process id,
  leaves them behind when killed, and once a process id came round again it
  refused to start (``faketime: sem_open: File exists``), failing a test;
* websocket ports: a ``[[websocket]]`` listener; when the banterd being tested
  does not know that section, the test is skipped as not implemented;
* ``TestCaseControllerConfig``: REGISTER before connect and e-mail requirements.

Environment: ``BANTERD_BIN`` (default: target/release/banterd in this
repository), ``IRCTEST_DEBUG_LOGS=1`` streams banterd's log into pytest's
output instead of ``banterd.log`` in the test's directory.

``BANTERD_CLUSTER=1`` tests one node of a running two-node cluster instead of a
single node: per test, a ``redis-server`` of its own (in the test's directory,
on a free loopback port, without persistence) and a second banterd, node B,
with the same configuration on another port, both nodes with a ``[cluster]``
section naming that Redis (each with its own SQLite file: ``separate_stores``). The suite talks to node A only; its nicks and new
channels are claimed in Redis and its changes published as on any node of a
network. A restart stops node A cleanly (it announces its departure, freeing its
users' nicks at once) and starts it again as a new member, which replays the
log.
"""

from __future__ import annotations

import os
from pathlib import Path
import socket
import subprocess
import time
from typing import Any, Dict, List, Optional, Type

from irctest import cases, patma
from irctest.basecontrollers import (
    BaseServerController,
    DirectoryBasedController,
    NotImplementedByController,
)
from irctest.specifications import Capabilities, OptionalBehaviors

REPO_ROOT = Path(__file__).resolve().parents[2]
# Debian's faketime package: /usr/lib/<triplet>/faketime/libfaketime.so.1.
LIBFAKETIME: Optional[Path] = next(iter(sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))), None)
DEFAULT_BIN = REPO_ROOT / "target" / "release" / "banterd"

# What every test gets: the server name and oper block the suite asserts, no
# throttling, fake lag or per-IP limits for the loopback address (irctest opens
# many connections at once from it), cheap password hashing.
BASE_CONFIG: Dict[str, Dict[str, Any]] = {
    "server": {
        "name": "My.Little.Server",
        "network": "IrctestNet",
        "description": "test server",
        "log": "info",
    },
    "limits": {
        "exempt": ["127.0.0.1", "::1"],
        "registration_timeout": 60,
        # irctest reads replies with a PING/PONG handshake; spacing writes only
        # adds latency to every exchange
        "write_interval_ms": 0,
    },
    "flood": {"enabled": False},
    "accounts": {
        "nick_protection": False,
        "throttle_free_attempts": 1000000,
        "min_password_len": 1,
        "argon2_memory_kib": 1024,
        "argon2_iterations": 1,
        "scram_iterations": 4096,
    },
    "channels": {"permanent": []},
}

OPERS: List[Dict[str, str]] = [{"name": "operuser", "password": "operpassword"}]

# BANTERD_CLUSTER=1: node A of a two-node cluster (see the module's doc).
CLUSTER = os.environ.get("BANTERD_CLUSTER") == "1"


def _wait_for_tcp(port: int, proc: subprocess.Popen, what: str, timeout: float = 30.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:port, failing if
    the process that should listen there exits first."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen on port {port} in {timeout} s")
            time.sleep(0.02)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (str, Path)):
        text = str(value).replace("\\", "\\\\").replace('"', '\\"')
        return f'"{text}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def to_toml(tables: Dict[str, Dict[str, Any]], arrays: Dict[str, List[Dict[str, Any]]]) -> str:
    """The small subset of TOML banterd's config needs: tables of scalars and
    lists, and arrays of tables."""
    out: List[str] = []
    for name, table in tables.items():
        out.append(f"[{name}]")
        out.extend(f"{k} = {_toml_value(v)}" for k, v in table.items())
        out.append("")
    for name, entries in arrays.items():
        for entry in entries:
            out.append(f"[[{name}]]")
            out.extend(f"{k} = {_toml_value(v)}" for k, v in entry.items())
            out.append("")
    return "\n".join(out)


def _requested_casemapping() -> Optional[str]:
    """The casemapping a test is parametrized with, if banterd has it.

    irctest's casemapping tests (channel.py) take the casemapping as their first
    parameter and skip when the server advertises another one; banterd has both
    "rfc1459" and "ascii" (``[server] casemapping``), so the test gets the one
    it asks for. pytest names the running test in PYTEST_CURRENT_TEST, e.g.
    ``...::testChannelsEquivalent[ascii-#Foo-#foo] (setup)``."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "")
    if "casemapping" not in test.lower() and "ChannelCaseSensitivity" not in test:
        return None
    params = test.partition("[")[2].partition("]")[0]
    first = params.split("-", 1)[0]
    return first if first in ("ascii", "rfc1459") else None


class BanterdController(BaseServerController, DirectoryBasedController):
    software_name = "banterd"
    _port_wait_interval = 0.01
    supported_sasl_mechanisms = {"PLAIN", "SCRAM-SHA-256"}
    supports_sts = False
    extban_mute_char = "m"

    capabilities = frozenset(
        (
            Capabilities.ACCOUNT_NOTIFY,
            Capabilities.ACCOUNT_TAG,
            Capabilities.AWAY_NOTIFY,
            Capabilities.BATCH,
            Capabilities.ECHO_MESSAGE,
            Capabilities.EXTENDED_JOIN,
            Capabilities.EXTENDED_MONITOR,
            Capabilities.LABELED_RESPONSE,
            Capabilities.MESSAGE_REDACTION,
            Capabilities.MESSAGE_TAGS,
            Capabilities.MULTILINE,
            Capabilities.MULTI_PREFIX,
            Capabilities.READ_MARKER,
            Capabilities.SERVER_TIME,
            Capabilities.SETNAME,
        )
    )

    # Declared behaviours turn a test's "not supported" skip into a failure
    # (irctest's conftest), so each of these is a promise the suite checks.
    optional_behaviors = frozenset(
        (
            OptionalBehaviors.BAN_EXCEPTION_MODE,
            OptionalBehaviors.CAP_REQ_MINUS,
            OptionalBehaviors.ELIST_C,
            OptionalBehaviors.ELIST_M,
            OptionalBehaviors.ELIST_N,
            OptionalBehaviors.ELIST_T,
            OptionalBehaviors.ELIST_U,
            OptionalBehaviors.INVITE_EXCEPTION_MODE,
            OptionalBehaviors.INVITE_LIST,
            OptionalBehaviors.INVITE_OVERRIDES_LIMIT,
            OptionalBehaviors.MULTI_JOIN,
            OptionalBehaviors.METADATA_BEFORE_CONNECT,
            OptionalBehaviors.MULTI_KICK,
            OptionalBehaviors.MULTI_NAMES_COMMAND,
            OptionalBehaviors.MULTI_PRIVMSG,
            OptionalBehaviors.NO_CTCP,
            OptionalBehaviors.SASL_AFTER_REGISTRATION,
            OptionalBehaviors.SASL_REAUTHENTICATION,
        )
    )

    # ISUPPORT tokens isupport.py checks banterd advertises, with their values
    isupport = {
        "BOT": "B",
        "CASEMAPPING": "rfc1459",
        "ELIST": "CMNTU",
        "INVEX": "I",
        "MONITOR": "100",
        "MSGREFTYPES": "msgid,timestamp",
        "PREFIX": "(ov)@+",
        "STATUSMSG": "@+",
        "TARGMAX": patma.ANYSTR,
        "UTF8ONLY": None,
        "WHOX": None,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.binary = Path(os.environ.get("BANTERD_BIN") or DEFAULT_BIN)
        self._tables: Dict[str, Dict[str, Any]] = {}
        self._arrays: Dict[str, List[Dict[str, Any]]] = {}
        self._log_file: Optional[Any] = None
        # BANTERD_CLUSTER: redis-server and node B, stopped with node A
        self._peers: List[subprocess.Popen] = []
        self._peer_logs: List[Any] = []

    # -- configuration -------------------------------------------------------

    def _build_config(
        self,
        *,
        password: Optional[str],
        ssl: bool,
        websocket_hostname: Optional[str],
        websocket_port: Optional[int],
    ) -> None:
        assert self.directory
        tables = {name: dict(table) for name, table in BASE_CONFIG.items()}
        server = tables["server"]
        server["data_dir"] = str(self.directory / "data")
        server["motd_file"] = str(self.directory / "motd.txt")
        (self.directory / "motd.txt").write_text("irctest run of banterd\n")
        address = f"{self.hostname}:{self.port}"
        if ssl:
            self.gen_ssl()
            server["listen"] = []
            tables["tls"] = {
                "listen": [address],
                "cert": str(self.pem_path),
                "key": str(self.key_path),
            }
        else:
            server["listen"] = [address]
        if password is not None:
            server["password"] = password
        casemapping = _requested_casemapping()
        if casemapping:
            server["casemapping"] = casemapping

        accounts = tables["accounts"]
        accounts["register_before_connect"] = bool(
            self.test_config.account_registration_before_connect
        )
        accounts["email_required"] = bool(self.test_config.account_registration_requires_email)

        arrays: Dict[str, List[Dict[str, Any]]] = {"oper": [dict(o) for o in OPERS]}
        if websocket_hostname and websocket_port:
            arrays["websocket"] = [{"listen": f"{websocket_hostname}:{websocket_port}"}]
        self._tables, self._arrays = tables, arrays

    def _write_config(self) -> None:
        assert self.directory
        self._config_path = self.directory / "config.toml"
        self._config_path.write_text(to_toml(self._tables, self._arrays))

    # -- process -------------------------------------------------------------

    def run(
        self,
        hostname: str,
        port: int,
        *,
        password: Optional[str],
        ssl: bool,
        run_services: bool,
        faketime: Optional[str],
        websocket_hostname: Optional[str] = None,
        websocket_port: Optional[int] = None,
    ) -> None:
        if not self.binary.is_file():
            raise RuntimeError(
                f"no banterd binary at {self.binary}: run cargo build --release --bin banterd"
            )
        assert self.proc is None
        self.hostname, self.port = hostname, port
        self.create_config()
        self._build_config(
            password=password,
            ssl=ssl,
            websocket_hostname=websocket_hostname,
            websocket_port=websocket_port,
        )
        self._write_config()
        self._faketime = faketime if faketime and LIBFAKETIME else None
        self.faketime_enabled = self._faketime is not None
        try:
            if CLUSTER:
                self._start_cluster_peers()
            self._start()
            self.wait_for_port()
        except Exception:
            self._raise_if_unsupported(websocket_port is not None)
            self._print_log_tails()
            raise

    def _start(self) -> None:
        assert self.directory
        cmd: List[str] = []
        env = dict(os.environ)
        if self._faketime and LIBFAKETIME:
            env["LD_PRELOAD"] = str(LIBFAKETIME)
            env["FAKETIME"] = self._faketime
            # banterd's keep-alive and registration timers run on the monotonic
            # clock; speeding that up would time clients out mid-test
            env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
        cmd += [str(self.binary), "--config", str(self._config_path)]
        if self.debug_mode:
            self.proc = self.execute(cmd, env=env, cwd=self.directory)
        else:
            self._log_file = open(self.directory / "banterd.log", "ab")
            self.proc = self.execute(
                cmd, env=env, cwd=self.directory, stdout=self._log_file, stderr=self._log_file
            )

    def _start_cluster_peers(self) -> None:
        """Start this test's redis-server and node B, and give node A's config
        the ``[cluster]`` section (BANTERD_CLUSTER)."""
        assert self.directory
        _, redis_port = self.get_hostname_and_port()
        redis_dir = self.directory / "redis"
        redis_dir.mkdir()
        self._spawn_peer(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(redis_dir)],
            "redis.log",
        )
        _wait_for_tcp(redis_port, self._peers[-1], "redis-server")
        # Each node keeps its own SQLite file (separate_stores): the suite's
        # accounts and registered channels live on node A, and node B is a
        # peer that takes part in the log, as in a trial on one machine.
        cluster = {
            "redis_url": f"redis://127.0.0.1:{redis_port}/0",
            "heartbeat_ms": 1000,
            "ttl_ms": 5000,
            "separate_stores": True,
        }
        self._tables["cluster"] = dict(cluster, node_name="a")
        self._write_config()

        _, b_port = self.get_hostname_and_port()
        b_tables = {name: dict(table) for name, table in self._tables.items()}
        b_tables.pop("tls", None)
        b_tables["server"]["listen"] = [f"127.0.0.1:{b_port}"]
        b_tables["server"]["data_dir"] = str(self.directory / "data-b")
        b_tables["cluster"] = dict(cluster, node_name="b")
        b_config = self.directory / "config-b.toml"
        b_config.write_text(to_toml(b_tables, {"oper": [dict(o) for o in OPERS]}))
        self._spawn_peer([str(self.binary), "--config", str(b_config)], "banterd-b.log")
        _wait_for_tcp(b_port, self._peers[-1], "node B")

    def _spawn_peer(self, cmd: List[str], log_name: str) -> None:
        assert self.directory
        log = open(self.directory / log_name, "ab")
        self._peer_logs.append(log)
        self._peers.append(
            subprocess.Popen(cmd, cwd=self.directory, stdout=log, stderr=log, start_new_session=True)
        )

    def _stop_cluster_peers(self) -> None:
        """Stop node B, then Redis (node B announces its departure first)."""
        for proc in reversed(self._peers):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in self._peer_logs:
            log.close()
        self._peers, self._peer_logs = [], []

    def _print_log_tails(self) -> None:
        """Print the end of each server log of this test (node A's, and with
        BANTERD_CLUSTER node B's and Redis's): pytest keeps it with the
        failure, while the test's directory is deleted."""
        assert self.directory
        for name in ("banterd.log", "banterd-b.log", "redis.log"):
            path = self.directory / name
            if path.is_file():
                lines = path.read_text(errors="replace").splitlines()[-15:]
                print(f"---- last lines of {name} ----", *lines, sep="\n")

    def _raise_if_unsupported(self, websocket: bool) -> None:
        """A banterd without a WebSocket transport refuses the [[websocket]]
        section as an unknown key: that is a missing feature, not a failure."""
        assert self.directory
        log = self.directory / "banterd.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        if websocket and "websocket" in text.lower():
            raise NotImplementedByController("WebSocket listener")

    def kill_proc(self) -> None:
        self._stop_node()
        self._stop_cluster_peers()

    def _stop_node(self) -> None:
        super().kill_proc()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def restart(self) -> None:
        """Stop banterd and start it again on the same config and data dir
        (node A only, in a cluster)."""
        self._stop_node()
        self.port_open = False
        self._start()
        self.wait_for_port()

    def wait_for_services(self) -> None:
        # accounts are built into banterd: nothing else to wait for
        pass

    # -- hooks used by tests -------------------------------------------------

    def registerUser(
        self,
        case: cases.BaseServerTestCase,
        username: str,
        password: Optional[str] = None,
    ) -> None:
        """Create an account the way an administrator does, with
        ``banterd account create`` on the running server's database (as
        irctest's other controllers go through their services' admin path).
        REGISTER itself is tested by account_registration.py; going through it
        here would also apply its own rules (e.g. password lengths) to tests
        about something else."""
        if not case.run_services:
            raise ValueError("Attempted to register a nick, but `run_services` it not True.")
        assert password
        subprocess.run(
            [str(self.binary), "account", "create", username, "--config", str(self._config_path)],
            input=password.encode() + b"\n",
            check=True,
            capture_output=True,
            cwd=self.directory,
        )

    def getConfig(self) -> Dict[str, Any]:
        """The current configuration, as tables and arrays of tables."""
        return {"tables": {k: dict(v) for k, v in self._tables.items()}, "arrays": self._arrays}

    def rehash(self, case: cases.BaseServerTestCase, config: Dict[str, Any]) -> None:
        """Write a new configuration and have an operator send REHASH."""
        self._tables, self._arrays = config["tables"], config["arrays"]
        self._write_config()
        client = case.addClient(show_io=False)
        case.sendLine(client, "NICK rehashuser")
        case.sendLine(client, "USER r e h :user")
        while case.getRegistrationMessage(client).command != "001":
            pass
        case.getMessages(client)
        case.sendLine(client, "OPER operuser operpassword")
        case.sendLine(client, "REHASH")
        case.getMessages(client)
        case.sendLine(client, "QUIT")
        case.assertDisconnected(client)

    def set_registration(self, case: cases.BaseServerTestCase, enabled: bool) -> None:
        """Turn account registration (REGISTER) on or off while running."""
        config = self.getConfig()
        config["tables"]["accounts"]["registration"] = enabled
        self.rehash(case, config)


def get_irctest_controller_class() -> Type[BanterdController]:
    return BanterdController

