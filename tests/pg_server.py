"""A throwaway PostgreSQL server for the tests of the shared archive (issue 26).

Debian's ``postgresql`` package provides the binaries (/usr/lib/postgresql/<ver>/bin);
when ``initdb`` is missing and we are root with apt-get, the fixture installs it, as
tests/test_xss_browser.py installs Chromium. The cluster lives in a temporary
folder: ``initdb``, then ``pg_ctl start`` on a free TCP port of 127.0.0.1 with the
unix socket in the same folder, stopped at the end of the session. PostgreSQL
refuses to run as root, so as root the cluster belongs to the ``postgres`` user the
package creates (``runuser``). The only skip is a server that cannot be had, and
its reason says why and how to get one.

Tests import the fixture: ``from pg_server import pg_server  # noqa: F401``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import apt_install, root_with_apt

SUPERUSER = "postgres"


def find_bin() -> Path | None:
    """The folder of initdb/pg_ctl/postgres, newest version first; POLYLOGUE_PG_BIN overrides."""
    override = os.environ.get("POLYLOGUE_PG_BIN")
    if override:
        return Path(override) if (Path(override) / "initdb").exists() else None
    root = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in root.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    if versions:
        return versions[0]
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def install() -> list[str]:
    """apt-get install postgresql (root only); the problems met, if any."""
    if not root_with_apt():
        return ["not root with apt-get, so PostgreSQL was not installed"]
    return apt_install("postgresql")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgServer:
    bin: Path
    root: Path  # the temporary folder: data/, the socket, the log
    port: int
    run_as: str | None  # the OS user running the cluster (None: ourselves)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, user: str = SUPERUSER, db: str = "postgres", password: str | None = None) -> str:
        auth = user + (f":{password}" if password else "")
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{db}"

    def _cmd(self, *args: str) -> list[str]:
        return (["runuser", "-u", self.run_as, "--"] if self.run_as else []) + list(args)

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(self._cmd(*args), capture_output=True, text=True, timeout=timeout, cwd="/")

    def start(self) -> None:
        opts = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60 -c shared_buffers=128MB"
        )
        r = self.run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-o", opts, "-w", "start"
        )
        if r.returncode:
            log = (self.root / "log").read_text(errors="replace")[-1500:] if (self.root / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {r.stderr or r.stdout}\n{log}")

    def stop(self) -> None:
        self.run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def sql(self, statement: str, db: str = "postgres") -> None:
        """One statement as the superuser (autocommit: CREATE DATABASE may not run in a transaction)."""
        import psycopg

        with psycopg.connect(self.url(db=db), autocommit=True) as conn:
            conn.execute(statement)

    def new_database(self, name: str) -> str:
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.sql(f'CREATE DATABASE "{name}"')
        return self.url(db=name)


def start_server(base: Path | None = None) -> PgServer:
    """initdb + pg_ctl start in a new temporary folder (raises RuntimeError)."""
    pg_bin = find_bin()
    if pg_bin is None:
        raise FileNotFoundError("initdb")
    run_as = SUPERUSER if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="polylogue-pg-", dir=base))
    if run_as:
        shutil.chown(root, run_as)
    server = PgServer(pg_bin, root, free_port(), run_as)
    r = server.run(
        str(pg_bin / "initdb"), "-D", str(server.data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-sync"
    )
    if r.returncode:
        raise RuntimeError(f"initdb failed: {r.stderr or r.stdout}")
    server.start()
    return server


@pytest.fixture(scope="session")
def pg_server():
    """A running throwaway PostgreSQL (PgServer); skipped, loudly, only where none can be had."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed: pip install 'polylogue[postgres]' (psycopg[binary]) to run these tests")
    notes = []
    if find_bin() is None:
        notes = install()
    if find_bin() is None:
        pytest.skip(
            "PostgreSQL is not available (" + " ".join(notes or ["initdb not found"]) + "); install the Debian "
            "package postgresql (or set POLYLOGUE_PG_BIN to the folder holding initdb) to run these tests"
        )
    server = start_server()
    try:
        _wait_ready(server)
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


def _wait_ready(server: PgServer, seconds: float = 30) -> None:
    import psycopg

    deadline = time.monotonic() + seconds
    while True:
        try:
            psycopg.connect(server.url(), connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
