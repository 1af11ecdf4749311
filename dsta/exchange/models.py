from dsta.kernel.outbox import InboxEntryBase, OutboxEventBase


class OutboxEvent(OutboxEventBase):
    class Meta(OutboxEventBase.Meta):
        db_table = "outbox"


class InboxEntry(InboxEntryBase):
    class Meta(InboxEntryBase.Meta):
        db_table = "inbox"
