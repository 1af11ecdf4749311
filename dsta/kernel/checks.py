"""The project's own system checks (registered when the kernel app is ready)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.db import router


def _place(alias: str) -> tuple[object, ...]:
    """Where an alias's tables live: its server, database and search_path (each domain's role has its schema)."""
    config = settings.DATABASES[alias]
    options = config.get("OPTIONS", {}).get("options", "")
    return (config.get("HOST"), config.get("PORT"), config.get("NAME"), options)


def shared_table_clashes(models: Iterable[Any]) -> list[checks.CheckMessage]:
    """Errors for table names that two of `models` would share in one place (same alias, or aliases that reach the
    same schema of the same database)."""
    by_table: dict[str, list[Any]] = defaultdict(list)
    for model in models:
        if model._meta.managed and not model._meta.proxy:
            by_table[model._meta.db_table].append(model)
    errors: list[checks.CheckMessage] = []
    for table, sharing in by_table.items():
        if len(sharing) < 2:
            continue
        places: dict[tuple[object, ...], list[str]] = defaultdict(list)
        for model in sharing:
            alias = router.db_for_write(model) or "default"
            if alias in settings.DATABASES:  # a served domain has its own alias only
                places[_place(alias)].append(model._meta.label)
        for labels in places.values():
            if len(labels) > 1:
                errors.append(
                    checks.Error(
                        f"db_table {table!r} is used by {', '.join(labels)} in the same database schema",
                        hint="give one of them another db_table, or route it to its own domain's alias",
                        id="kernel.E001",
                    )
                )
    return errors


@checks.register(checks.Tags.models, checks.Tags.database)
def shared_tables_live_apart(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Several domains own a table called `outbox` (and `inbox`), each in its own schema. Django's models.W035 can
    only ask to verify that such models are routed apart, so it is silenced (settings) and verified here."""
    return shared_table_clashes(apps.get_models())
