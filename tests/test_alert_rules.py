"""The alert rules name only metrics the app exports: scrape /metrics after exercising the app and compare.
Renaming a metric without updating docker/prometheus/alerts.yml turns this red. promtool validates the file
where it is installed (Debian package `prometheus`)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from dsta.core.tests.factories import access_token_for, bearer, user_with_role
from dsta.domains import DOMAINS

PROMETHEUS_DIR = Path(__file__).resolve().parents[1] / "docker" / "prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
PROMETHEUS_OWN = {"up"}  # series Prometheus makes itself for every target
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}
IDENTIFIER = re.compile(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")


def metric_names(expression: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords, label names in
    grouping clauses or matchers, strings or range durations."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expression)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    return {name for name in IDENTIFIER.findall(text) if name not in KEYWORDS}


def rules() -> list[dict]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_the_parser_finds_metric_names_and_nothing_else():
    expression = (
        'histogram_quantile(0.99, sum by (le, route) (rate(a_seconds_bucket{x="b c"}[5m]))) > 1e-9 '
        "and on(job) time() - b_timestamp offset 5m"
    )
    assert metric_names(expression) == {"a_seconds_bucket", "b_timestamp"}


@pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS])
def test_every_metric_in_the_alert_rules_is_exported(client):
    client.get("/healthz")
    client.get("/api/v1/orders/1", **bearer(access_token_for(user_with_role("viewer"))))
    response = client.get("/metrics")
    assert response.status_code == 200
    exported: set[str] = set()
    for family in text_string_to_metric_families(response.content.decode()):
        exported.add(family.name)
        exported.update(sample.name for sample in family.samples)
        if family.type == "counter":
            exported.add(f"{family.name}_total")
        if family.type == "histogram":
            exported.update(f"{family.name}_{suffix}" for suffix in ("bucket", "count", "sum"))
    used = {rule["alert"]: metric_names(rule["expr"]) for rule in rules()}
    assert all(used.values()), used  # every rule watches some metric
    missing = {alert: sorted(names - exported - PROMETHEUS_OWN) for alert, names in used.items()}
    assert {alert: names for alert, names in missing.items() if names} == {}
    wanted = {
        "DstaServiceDown",
        "DstaHighErrorRate",
        "DstaOutboxLag",
        "DstaDeadLetters",
        "DstaSlowOrderExecution",
        "DstaExchangeBreakerOpen",
        "DstaRelayStalled",
        "DstaNoWorkers",
    }
    assert wanted <= {rule["alert"] for rule in rules()}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (Debian package prometheus)")
def test_promtool_accepts_the_rules_and_the_scrape_config():
    checked = subprocess.run(["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = subprocess.run(
        ["promtool", "check", "config", "--syntax-only", str(PROMETHEUS_DIR / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert config.returncode == 0, config.stdout + config.stderr
