"""A throwaway PostgreSQL cluster for tests: initdb into a temp dir, a unix socket only.

initdb refuses to run as root, so as root the cluster belongs to the `postgres` user (from
the Debian package) and its commands run through `runuser`. The server listens on no TCP
port at all (`listen_addresses=''`), only on a socket in its own temp dir.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SERVER_USER = "postgres"


def find_bindir() -> Path | None:
    """Where initdb and pg_ctl live: on PATH, or the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        # Often a symlink into the versioned directory that also holds createdb.
        return Path(found).resolve().parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    return Path(candidates[-1]).parent if candidates else None


@dataclass
class Cluster:
    """A running cluster; `url(db)` connects to one of its databases over the socket."""

    bindir: Path
    base: Path
    user: str | None  # the OS user running the server, when it is not us

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base / "run"

    @property
    def role(self) -> str:
        return self.user or pwd.getpwuid(os.getuid()).pw_name

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        secret = f":{password}" if password else ""
        return f"postgresql://{self.role}{secret}@/{database}?host={self.socket_dir}"

    def _run(self, *argv: str) -> None:
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log = self.base / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}{tail}")

    def start(self) -> None:
        self.socket_dir.mkdir()
        if self.user:
            shutil.chown(self.socket_dir, self.user)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
            "-U",
            self.role,
        )
        options = f"-k {self.socket_dir} -c listen_addresses='' -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.base / "server.log"),
            "-w",
            "start",
        )

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", str(self.socket_dir), "-U", self.role, name)
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


def start_cluster() -> Cluster | str:
    """A started cluster, or why none can be started (no PostgreSQL binaries)."""
    bindir = find_bindir()
    if bindir is None:
        return (
            "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or under "
            "/usr/lib/postgresql/*/bin: install the `postgresql` package (.ci/run does)"
        )
    user: str | None = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", SERVER_USER], check=True)
        user = SERVER_USER
    base = Path(tempfile.mkdtemp(prefix="sigmaform-pg-"))
    if user:
        shutil.chown(base, user)
    cluster = Cluster(bindir=bindir, base=base, user=user)
    try:
        cluster.start()
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    return cluster
