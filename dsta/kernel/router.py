"""Maps each app to its domain's DATABASES alias; refuses relations and migrations across domains."""

from __future__ import annotations

from typing import Any

from dsta.domains import alias_for_app


class DomainRouter:
    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return alias_for_app(model._meta.app_label)

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return alias_for_app(model._meta.app_label)

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        first, second = alias_for_app(obj1._meta.app_label), alias_for_app(obj2._meta.app_label)
        if first is None or second is None:
            return None
        return first == second

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        alias = alias_for_app(app_label)
        # Apps without tables of their own (rest_framework, channels, kernel) migrate nowhere but default.
        return db == (alias or "default")
