"""schemathesis against the served OpenAPI schema, as an admin: no operation answers 5xx to any input it
generates (bad input must be a 4xx with field errors), first operation by operation, then chained statefully
over the order links. Bounded by a time budget."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.reliability import harness, order_hooks

ROOT = Path(__file__).resolve().parents[2]
TIME_BUDGET_SECONDS = 60
EXCLUDED_PATHS = [
    # Revokes the token family this run authenticates with; every later request would be a 401.
    "/api/v1/auth/logout",
]


def schemathesis_run(children, tmp_path: Path, *options: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """A web server of its own, an admin token that outlives the run (login attempts are rate-limited per
    address, so no re-login per request), and schemathesis over its schema with `options`."""
    port = harness.free_port()
    base = f"http://127.0.0.1:{port}"
    web = children(harness.web(tmp_path, port=port, DSTA_JWT_ACCESS_TTL_SECONDS="1800"))
    assert harness.wait_http(f"{base}/healthz", timeout=180), web.log_tail()
    token = harness.login(base, "reliability", harness.ADMIN_PASSWORD)
    argv = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{base}/api/schema/",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "not_a_server_error",
        "--max-time",
        str(TIME_BUDGET_SECONDS),
        "--request-timeout",
        "30",
        # one worker: hypothesis parses lambda sources with ast, which is not thread-safe on CPython 3.11
        # ("AST constructor recursion depth mismatch" with two workers)
        "--workers",
        "1",
        "--no-shrink",
        *options,
    ]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=TIME_BUDGET_SECONDS + 120, cwd=tmp_path, env=env
    )


def test_no_operation_answers_5xx_to_generated_input(private_db, children, tmp_path):
    harness.ensure_admin()
    excluded = [option for path in EXCLUDED_PATHS for option in ("--exclude-path", path)]
    phases = ("--phases", "examples,coverage,fuzzing")
    run = schemathesis_run(children, tmp_path, "--max-examples", "5", *phases, "--seed", "20261125", *excluded)
    report = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    assert "Tested:" in run.stdout, report  # it really ran the operations


def test_order_links_chained_statefully_never_answer_5xx(private_db, children, tmp_path):
    """schemathesis's stateful phase over the order operations: it infers the links from the schema (an order
    created by POST /orders is read, listed, its fills fetched and cancelled by its id) and chains real calls."""
    harness.ensure_admin()
    harness.paper_venue_for_buys(order_hooks.SYMBOL)
    hooks = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.reliability.order_hooks", "PYTHONPATH": str(ROOT)}
    run = schemathesis_run(
        children,
        tmp_path,
        "--include-path-regex",
        "^/api/v1/orders",
        "--phases",
        "stateful",
        "--max-examples",
        "20",
        "--seed",
        "20261202",
        env=hooks,
    )
    report = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    covered = re.search(r"API Links:\s+(\d+) covered", run.stdout)
    print(covered.group(0) if covered else report)
    assert covered and int(covered.group(1)) >= 3, report  # create -> read / fills / cancel were really chained
