from __future__ import annotations

import json
from typing import Any

from rest_framework import serializers

# Preferences are a user's UI settings, stored whole in one row: bounded so nobody parks megabytes in it.
PREFERENCES_MAX_KEYS = 64
PREFERENCES_MAX_KEY_LENGTH = 100
PREFERENCES_MAX_VALUE_BYTES = 16 * 1024  # per value, as compact JSON in UTF-8


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=200, trim_whitespace=False)


class RefreshSerializer(serializers.Serializer):
    refresh_token = serializers.CharField(max_length=200)


class LogoutSerializer(serializers.Serializer):
    refresh_token = serializers.CharField(max_length=200, required=False)


class TokenPairSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    access_expires_at = serializers.DateTimeField()
    refresh_expires_at = serializers.DateTimeField()
    token_type = serializers.CharField(default="Bearer")


class PrincipalSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())
    permissions = serializers.ListField(child=serializers.CharField())
    auth_method = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField(), allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.RegexField(r"^[a-z_*][a-z0-9_.*]*$", max_length=100), min_length=1, max_length=50
    )
    expires_in_days = serializers.IntegerField(min_value=1, max_value=3650, required=False, allow_null=True)


class ApiKeyCreatedSerializer(serializers.Serializer):
    key_id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    key = serializers.CharField(help_text="Shown once; only its hash is stored.")
    scopes = serializers.ListField(child=serializers.CharField())
    expires_at = serializers.DateTimeField(allow_null=True)


class ApiKeySummarySerializer(serializers.Serializer):
    key_id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)


class ProfileSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField()
    roles = serializers.ListField(child=serializers.CharField())
    permissions = serializers.ListField(child=serializers.CharField())
    preferences = serializers.DictField()


class PreferencesSerializer(serializers.Serializer):
    preferences = serializers.DictField()

    def validate_preferences(self, values: dict[str, Any]) -> dict[str, Any]:
        if len(values) > PREFERENCES_MAX_KEYS:
            raise serializers.ValidationError(f"at most {PREFERENCES_MAX_KEYS} keys ({len(values)} given)")
        errors: dict[str, list[str]] = {}
        for key, value in values.items():
            if not 1 <= len(key) <= PREFERENCES_MAX_KEY_LENGTH:
                errors[key[:PREFERENCES_MAX_KEY_LENGTH]] = [f"a key is 1..{PREFERENCES_MAX_KEY_LENGTH} characters"]
                continue
            size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
            if size > PREFERENCES_MAX_VALUE_BYTES:
                errors[key] = [f"at most {PREFERENCES_MAX_VALUE_BYTES} bytes as JSON ({size} given)"]
        if errors:
            raise serializers.ValidationError(errors)
        return values


class AuditRecordSerializer(serializers.Serializer):
    entry_id = serializers.IntegerField()
    occurred_at = serializers.DateTimeField()
    actor_id = serializers.IntegerField(allow_null=True)
    action = serializers.CharField()
    target = serializers.CharField()
    details = serializers.DictField()
    ip_address = serializers.CharField(allow_null=True)


class AuditQuerySerializer(serializers.Serializer):
    actor_id = serializers.IntegerField(required=False)
    action = serializers.CharField(required=False, max_length=100)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=100)


class ConfigValueSerializer(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.JSONField()
    version = serializers.IntegerField()
    json_schema = serializers.JSONField(allow_null=True)
    updated_at = serializers.DateTimeField()
    updated_by_id = serializers.IntegerField(allow_null=True)


class ConfigWriteSerializer(serializers.Serializer):
    value = serializers.JSONField()
    json_schema = serializers.JSONField(required=False, allow_null=True, help_text="Omit to keep the current one.")
    comment = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")

    def validate_value(self, value: object) -> object:
        # JSON bodies refuse null already; a form field holding "null" parses to None after that check
        if value is None:
            raise serializers.ValidationError("This field may not be null.")
        return value

    def validate_json_schema(self, schema: object) -> object:
        if schema is not None and not isinstance(schema, dict):
            raise serializers.ValidationError("a JSON schema is an object")
        return schema


class ConfigVersionSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    value = serializers.JSONField()
    json_schema = serializers.JSONField(allow_null=True)
    created_at = serializers.DateTimeField()
    created_by_id = serializers.IntegerField(allow_null=True)
    comment = serializers.CharField()


class ConfigRollbackSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)


class SecretValueSerializer(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.CharField()


class FeatureFlagStateSerializer(serializers.Serializer):
    name = serializers.CharField()
    enabled = serializers.BooleanField()


class NotificationSendSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=["telegram", "email", "webhook"])
    recipient = serializers.CharField(max_length=500)
    subject = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    body = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    template = serializers.CharField(max_length=100, required=False, allow_null=True, default=None)
    context = serializers.DictField(child=serializers.CharField(max_length=1000), required=False, default=dict)
    priority = serializers.ChoiceField(choices=["low", "normal", "high", "critical"], default="normal")
    dedup_key = serializers.CharField(max_length=64, required=False, allow_null=True, default=None)


class NotificationReceiptSerializer(serializers.Serializer):
    notification_id = serializers.IntegerField()
    channel = serializers.CharField()
    recipient = serializers.CharField()
    status = serializers.CharField()
    deduplicated = serializers.BooleanField()


class DeliveryAttemptSerializer(serializers.Serializer):
    attempted_at = serializers.DateTimeField()
    succeeded = serializers.BooleanField()
    detail = serializers.CharField()


class NotificationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    channel = serializers.CharField()
    recipient = serializers.CharField()
    subject = serializers.CharField()
    body = serializers.CharField()
    priority = serializers.CharField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()
    delivery_attempts = DeliveryAttemptSerializer(many=True)


class NotificationHistoryQuerySerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=["telegram", "email", "webhook"], required=False)
    status = serializers.ChoiceField(choices=["queued", "sending", "sent", "failed", "rate_limited"], required=False)
    recipient = serializers.CharField(max_length=500, required=False)
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=100)


class NotificationTemplateSerializer(serializers.Serializer):
    name = serializers.RegexField(r"^[a-z0-9][a-z0-9_.-]*$", max_length=100)
    subject = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    body = serializers.CharField(max_length=4000)
