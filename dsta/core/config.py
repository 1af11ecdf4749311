"""Versioned configuration: JSON values validated by an optional JSON schema, full history, rollback, the
`core.config_changed` event (outbox) and a push to WebSocket watchers (channel layer) on commit; feature
flags."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import structlog
from django.db import transaction

from dsta.core import audit
from dsta.core.contracts import ConfigValue
from dsta.core.events import ConfigChanged
from dsta.core.models import ConfigEntry, ConfigVersion, FeatureFlag
from dsta.kernel.errors import InputError
from dsta.kernel.outbox import publish
from dsta.kernel.websocket import group_send

log = structlog.get_logger(__name__)

WATCH_GROUP = "core.config"
KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,199}$")
RESERVED_KEYS = frozenset({"secrets", "flags", "watch"})  # path segments of other config endpoints


class ConfigError(InputError):
    """Bad input; `errors` maps a field to its messages (shown as a 400)."""


def _as_value(entry: ConfigEntry) -> ConfigValue:
    return ConfigValue(
        key=entry.key,
        value=entry.value,
        version=entry.version,
        json_schema=entry.json_schema,
        updated_at=entry.updated_at,
        updated_by_id=entry.updated_by_id,
    )


def key_check(key: str) -> None:
    if not KEY_PATTERN.match(key) or key in RESERVED_KEYS:
        raise ConfigError({"key": ["use lowercase letters, digits, '.', '_' and '-' (not secrets/flags/watch)"]})


def config_get(*, key: str) -> ConfigValue | None:
    entry = ConfigEntry.objects.filter(key=key).first()
    return None if entry is None else _as_value(entry)


def _validate(value: Any, schema: dict[str, Any] | None) -> None:
    if schema is None:
        return
    import jsonschema  # ~0.05 s to import: only where a value with a schema is written, not at every start-up

    try:
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ConfigError({"schema": [f"not a valid JSON schema: {exc.message}"]}) from None
    problems = sorted(validator_class(schema).iter_errors(value), key=lambda error: list(error.path))
    if problems:
        raise ConfigError({"value": [f"{'/'.join(map(str, p.path)) or '(root)'}: {p.message}" for p in problems[:20]]})


def _broadcast(event: ConfigChanged) -> None:
    try:
        group_send(
            WATCH_GROUP, {"type": "config.changed", "key": event.key, "version": event.version, "value": event.value}
        )
    except Exception:  # watchers are a convenience; the committed change and its event stand regardless
        log.exception("config_watch_broadcast_failed", key=event.key)


def _write(
    *, key: str, value: Any, schema: dict[str, Any] | None, actor_id: int | None, comment: str, action: str
) -> ConfigValue:
    with transaction.atomic():
        entry = ConfigEntry.objects.select_for_update().filter(key=key).first()
        if entry is None:
            entry = ConfigEntry(key=key, version=0)
        entry.value, entry.json_schema = value, schema
        entry.version += 1
        entry.updated_by_id = actor_id
        entry.save()
        ConfigVersion.objects.create(
            key=key, version=entry.version, value=value, json_schema=schema, created_by_id=actor_id, comment=comment
        )
        audit.record(actor_id=actor_id, action=action, target=f"config:{key}", details={"version": entry.version})
        event = ConfigChanged(key=key, version=entry.version, value=value, updated_by_id=actor_id)
        publish(event, using="default")
        transaction.on_commit(lambda: _broadcast(event))
    return _as_value(entry)


KEEP_SCHEMA = object()  # config_set without a schema argument keeps the one in force


def config_set(
    *, key: str, value: Any, json_schema: Any = KEEP_SCHEMA, actor_id: int | None = None, comment: str = ""
) -> ConfigValue:
    """New version of `key`. The schema given (or else the one in force) must accept the value."""
    key_check(key)
    current = ConfigEntry.objects.filter(key=key).values_list("json_schema", flat=True).first()
    schema = current if json_schema is KEEP_SCHEMA else json_schema
    _validate(value, schema)
    return _write(key=key, value=value, schema=schema, actor_id=actor_id, comment=comment, action="config.changed")


def config_history(*, key: str) -> list[ConfigVersion]:
    return list(ConfigVersion.objects.filter(key=key).order_by("-version"))


def config_rollback(*, key: str, version: int, actor_id: int | None = None) -> ConfigValue:
    """Rolling back writes the old value as a new version: history only ever grows."""
    old = ConfigVersion.objects.filter(key=key, version=version).first()
    if old is None:
        raise ConfigError({"version": [f"{key} has no version {version}"]})
    return _write(
        key=key,
        value=old.value,
        schema=old.json_schema,
        actor_id=actor_id,
        comment=f"rollback to v{version}",
        action="config.rolled_back",
    )


def feature_enabled(*, name: str, user_id: int | None, roles: tuple[str, ...] = ()) -> bool:
    """On for the listed users and roles; otherwise for a stable `rollout_percent` share of users."""
    flag = FeatureFlag.objects.filter(name=name).first()
    if flag is None or not flag.enabled:
        return False
    if user_id is not None and user_id in flag.user_ids:
        return True
    if set(roles) & set(flag.roles):
        return True
    if user_id is None:
        return flag.rollout_percent >= 100
    bucket = int(hashlib.sha256(f"{name}:{user_id}".encode()).hexdigest()[:8], 16) % 100
    return bucket < flag.rollout_percent
