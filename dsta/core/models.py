from django.db import models

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
