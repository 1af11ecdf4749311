from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models

from dsta.kernel.clock import utc_now
from dsta.kernel.outbox import InboxEntryBase, OutboxEventBase


class OutboxEvent(OutboxEventBase):
    class Meta(OutboxEventBase.Meta):
        db_table = "outbox"


class InboxEntry(InboxEntryBase):
    class Meta(InboxEntryBase.Meta):
        db_table = "inbox"


class Secret(models.Model):
    """A credential stored encrypted (Fernet); the plaintext never reaches the database or a log."""

    id = models.BigAutoField(primary_key=True)
    key = models.CharField(max_length=200, unique=True)
    ciphertext = models.TextField()
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        db_table = "secret"

    def __str__(self) -> str:
        return f"{self.key} (v{self.version})"


class Role(models.Model):
    """A named set of permission patterns (`trading.*`, `market_data.read`, `*`), matched with fnmatch."""

    name = models.CharField(max_length=50, unique=True)
    description = models.CharField(max_length=200, blank=True, default="")
    permissions = models.JSONField(default=list)
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="dsta_roles", blank=True)

    class Meta:
        db_table = "role"

    def __str__(self) -> str:
        return self.name


class RefreshToken(models.Model):
    """One refresh token of a login family. Only its SHA-256 is stored; each use rotates it (`used_at`), and
    presenting a used or revoked token again is theft: the whole family is revoked."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="refresh_tokens")
    family_id = models.UUIDField(db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    issued_at = models.DateTimeField(default=utc_now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "refresh_token"

    def __str__(self) -> str:
        return f"refresh token of user {self.user_id} (family {self.family_id})"


class RevokedToken(models.Model):
    """Revocation list for access tokens: a `jti` (one token) or a `family` (every token of a login)."""

    class Kind(models.TextChoices):
        JTI = "jti"
        FAMILY = "family"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    value = models.CharField(max_length=64, unique=True)
    revoked_at = models.DateTimeField(default=utc_now)
    expires_at = models.DateTimeField()  # after this the token is expired anyway; rows may be purged

    class Meta:
        db_table = "revoked_token"

    def __str__(self) -> str:
        return f"{self.kind} {self.value}"


class ApiKey(models.Model):
    """`dsta_<prefix>_<secret>`: the prefix finds the row, the SHA-256 of the whole key proves it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=utc_now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "api_key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"


class AuditEntry(models.Model):
    """Append-only: the table is created by a migration with a trigger that refuses UPDATE, DELETE and
    TRUNCATE, and Django does not manage it (so a test flush never tries to truncate it)."""

    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(default=utc_now)
    actor_id = models.BigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=100)
    target = models.CharField(max_length=200, blank=True, default="")
    details = models.JSONField(default=dict)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        db_table = "audit_entry"
        managed = False

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.action} {self.target}"


class UserPreferences(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dsta_preferences")
    values = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "user_preferences"

    def __str__(self) -> str:
        return f"preferences of user {self.user_id}"


class ConfigEntry(models.Model):
    """The current value of a config key; every write also appends a ConfigVersion."""

    key = models.CharField(max_length=200, unique=True)
    value = models.JSONField()
    json_schema = models.JSONField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        db_table = "config_entry"
        verbose_name_plural = "config entries"

    def __str__(self) -> str:
        return f"{self.key} (v{self.version})"


class ConfigVersion(models.Model):
    key = models.CharField(max_length=200)
    version = models.PositiveIntegerField()
    value = models.JSONField()
    json_schema = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=utc_now)
    created_by_id = models.BigIntegerField(null=True, blank=True)
    comment = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        db_table = "config_version"
        constraints = [models.UniqueConstraint(fields=["key", "version"], name="config_version_once")]

    def __str__(self) -> str:
        return f"{self.key} v{self.version}"


class FeatureFlag(models.Model):
    """On for listed users and roles, and for `rollout_percent` of everyone else (stable per user)."""

    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=False)
    rollout_percent = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(100)])
    user_ids = models.JSONField(default=list, blank=True)
    roles = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "feature_flag"

    def __str__(self) -> str:
        return self.name


class NotificationTemplate(models.Model):
    """`string.Template` texts (`$symbol`), so a template can never run code."""

    name = models.CharField(max_length=100, unique=True)
    subject = models.CharField(max_length=200, blank=True, default="")
    body = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "notification_template"

    def __str__(self) -> str:
        return self.name


class Notification(models.Model):
    class Channel(models.TextChoices):
        TELEGRAM = "telegram"
        EMAIL = "email"
        WEBHOOK = "webhook"

    class Priority(models.TextChoices):
        LOW = "low"
        NORMAL = "normal"
        HIGH = "high"
        CRITICAL = "critical"

    class Status(models.TextChoices):
        QUEUED = "queued"
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"
        RATE_LIMITED = "rate_limited"

    channel = models.CharField(max_length=20, choices=Channel.choices)
    recipient = models.CharField(max_length=500)
    subject = models.CharField(max_length=200, blank=True, default="")
    body = models.TextField()
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    dedup_key = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=utc_now, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)  # when a worker started sending it
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    requested_by_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        db_table = "notification"

    def __str__(self) -> str:
        return f"{self.channel} to {self.recipient}: {self.status}"


class DeliveryAttempt(models.Model):
    """Delivery log: one row per try of a channel."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="delivery_attempts")
    attempted_at = models.DateTimeField(default=utc_now)
    succeeded = models.BooleanField()
    detail = models.TextField(blank=True, default="")

    class Meta:
        db_table = "notification_delivery"

    def __str__(self) -> str:
        return f"{self.notification_id} {'ok' if self.succeeded else 'failed'} at {self.attempted_at}"
