"""The three boundary rules: each model in exactly one domain, no cross-domain relations, and the database
itself refusing a cross-schema read."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import ProgrammingError, connections, router, transaction

from dsta.domains import DOMAINS, alias_for_app

ALL_ALIASES = [domain.alias for domain in DOMAINS]


def concrete_models():
    return [model for model in apps.get_models(include_auto_created=True) if not model._meta.abstract]


@pytest.mark.parametrize("model", concrete_models(), ids=lambda m: m._meta.label)
def test_every_model_lives_in_exactly_one_domain_alias(model):
    alias = alias_for_app(model._meta.app_label)
    assert alias in ALL_ALIASES, f"{model._meta.label} belongs to no domain"
    assert router.db_for_read(model) == alias
    assert router.db_for_write(model) == alias
    migratable_on = [
        db for db in ALL_ALIASES if router.allow_migrate(db, model._meta.app_label, model_name=model._meta.model_name)
    ]
    assert migratable_on == [alias]


@pytest.mark.parametrize("model", concrete_models(), ids=lambda m: m._meta.label)
def test_no_relation_crosses_a_domain(model):
    own = alias_for_app(model._meta.app_label)
    for field in model._meta.get_fields():
        if field.is_relation and field.related_model is not None:
            other = alias_for_app(field.related_model._meta.app_label)
            assert other == own, f"{model._meta.label}.{field.name} points into {other}"


@pytest.mark.django_db(databases=ALL_ALIASES)
@pytest.mark.parametrize("domain", DOMAINS, ids=lambda d: d.name)
def test_each_alias_is_its_own_role_in_its_own_schema(domain):
    with connections[domain.alias].cursor() as cursor:
        cursor.execute("SELECT current_user, current_schema(), rolsuper FROM pg_roles WHERE rolname = current_user")
        user, schema, superuser = cursor.fetchone()
    assert (user, schema, superuser) == (domain.role, domain.schema, False)


@pytest.mark.django_db(databases=ALL_ALIASES)
@pytest.mark.parametrize(
    ("reader", "table"),
    [("trading", "data.candle"), ("data", "trading.mark_price"), ("ml", "core.auth_user"), ("default", "ml.outbox")],
)
def test_cross_schema_read_is_denied_by_postgres(reader, table):
    denied = pytest.raises(ProgrammingError, match="permission denied for schema")
    with denied, transaction.atomic(using=reader), connections[reader].cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} LIMIT 1")


def test_router_refuses_a_relation_across_domains():
    from dsta.data.models import Candle
    from dsta.trading.models import MarkPrice

    assert router.allow_relation(Candle(), MarkPrice()) is False
    assert router.allow_relation(Candle(), Candle()) is True
