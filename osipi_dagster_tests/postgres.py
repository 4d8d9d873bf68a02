"""A throw-away PostgreSQL server for tests: the machine's initdb/pg_ctl, or the ``pgserver`` wheel's binaries.

PostgreSQL refuses to run as root, so under root the server runs as the ``postgres`` (or ``nobody``) user, in a
data directory that user owns. Missing binaries skip the test on a developer machine and fail it on CI (CI=true),
where ``.ci/run`` installs them.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from osipi_dagster_tests.servers import free_port, unavailable


def _pgserver_bin() -> Path | None:
    try:
        import pgserver  # optional fallback: pip install pgserver
    except ImportError:
        return None
    path = Path(pgserver.__file__).parent / "pginstall" / "bin"
    return path if (path / "initdb").exists() else None


def postgres_bin() -> Path:
    """Directory holding initdb and pg_ctl: $PG_BIN, the PATH, Debian's /usr/lib/postgresql/<newest>/bin, pgserver."""
    candidates = [os.environ.get("PG_BIN")]
    on_path = shutil.which("initdb")
    candidates.append(str(Path(os.path.realpath(on_path)).parent) if on_path else None)
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    candidates.append(str(_pgserver_bin() or ""))
    for candidate in filter(None, candidates):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    message = (
        "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql, or pip install pgserver"
    )
    unavailable(message)


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    database: str

    def connect(self):
        import psycopg2

        return psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname=self.database)


def _unprivileged_user() -> pwd.struct_passwd | None:
    """The user to run the server as when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("Running as root and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL as")


@contextmanager
def running_postgres(database: str = "dagster", user: str = "dagster") -> Iterator[Postgres]:
    """initdb a fresh cluster (trust auth on 127.0.0.1 only), start it on a free port, create ``database``, stop."""
    binaries = postgres_bin()
    owner = _unprivileged_user()
    as_owner = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []} if owner else {}
    workdir = Path(tempfile.mkdtemp(prefix="osipi-pg-"))  # not under pytest's 0700 tmp: the owner must enter it
    data, log = workdir / "data", workdir / "postgres.log"
    if owner:
        os.chown(workdir, owner.pw_uid, owner.pw_gid)

    def run(*args: str) -> None:
        result = subprocess.run(
            [str(binaries / args[0]), *args[1:]], capture_output=True, text=True, cwd=workdir, **as_owner
        )
        if result.returncode:
            raise RuntimeError(
                f"{args[0]} failed ({result.returncode}): {result.stderr or result.stdout}\n"
                f"{log.read_text() if log.exists() else ''}"
            )

    port = free_port()
    try:
        run("initdb", "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {workdir} -c fsync=off -c max_connections=200"
        run("pg_ctl", "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
        try:
            admin = Postgres("127.0.0.1", port, user, "postgres")
            connection = admin.connect()
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{database}"')
            connection.close()
            yield Postgres("127.0.0.1", port, user, database)
        finally:
            run("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
