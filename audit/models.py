from django.db import models

from gateway_console.models import Org


class ActorType(models.TextChoices):
    USER = "user", "Person"
    ADMIN_TOKEN = "admin_token", "Admin token"
    SYSTEM = "system", "System"


class ChainedEvent(models.Model):
    """What an event of a hash chain holds, in an org's log and in the platform log alike
    (audit.chain hashes these fields)."""

    occurred_at = models.DateTimeField()
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=254)
    actor_role = models.CharField(max_length=16, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    data = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    request_id = models.CharField(max_length=100, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor_label}"

    @property
    def display(self) -> str:
        from audit.actions import describe

        return describe(self.action)


class AuditEvent(ChainedEvent):
    """One confirmed action in an org. Rows are only ever inserted, by `audit.record`; the
    database's triggers refuse UPDATE, DELETE and TRUNCATE (migration 0003)."""

    org = models.ForeignKey(Org, on_delete=models.PROTECT, related_name="audit_events")
    seq = models.PositiveBigIntegerField(help_text="Position in the org's chain, from 1.")

    class Meta:
        ordering = ["-seq"]
        constraints = [
            # Two writers can never both extend the chain from the same event: no fork.
            models.UniqueConstraint(fields=["org", "seq"], name="audit_event_seq_unique_in_org"),
        ]
        indexes = [
            models.Index(
                fields=["org", "target_type", "target_id", "seq"], name="audit_target_idx"
            ),
            models.Index(fields=["org", "action", "seq"], name="audit_action_idx"),
            models.Index(fields=["org", "actor_id", "seq"], name="audit_actor_idx"),
            # The time range filter: a narrow range far back is found here, not by walking
            # the chain backwards from its newest event.
            models.Index(fields=["org", "occurred_at"], name="audit_time_idx"),
            # PostgreSQL also has (org, UPPER(actor_label), seq) and (org, UPPER(target_label),
            # seq) with text_pattern_ops (migration 0004): the actor and target filters match a
            # label exactly or by its start, case-insensitively, without reading every row.
        ]


class PlatformEvent(ChainedEvent):
    """One change platform staff made to what belongs to no org (users, plans, model prices),
    in Django admin. One chain for the whole platform, built and guarded as an org's: only
    inserted, by `audit.record_platform`; the same triggers refuse UPDATE, DELETE and TRUNCATE
    (migration 0005). Superusers alone may read it."""

    seq = models.PositiveBigIntegerField(unique=True, help_text="Position in the chain, from 1.")

    class Meta:
        ordering = ["-seq"]


class ChainStart(models.Model):
    """Where an org's chain begins once its oldest events were exported and pruned
    (audit.prune): the last pruned event's seq and hash, and the signed checkpoint of that very
    event that allowed the pruning. The next event links to `hash`; verification checks the
    checkpoint's signature. Append-only like the log (migration 0006); the newest row counts."""

    org = models.ForeignKey(Org, on_delete=models.PROTECT, related_name="audit_chain_starts")
    seq = models.PositiveBigIntegerField(help_text="The last pruned event's position.")
    hash = models.CharField(max_length=64)
    checkpoint = models.JSONField(help_text="The signed checkpoint of event `seq`.")
    export_name = models.CharField(max_length=200, help_text="The export file's name.")
    pruned = models.PositiveBigIntegerField(help_text="Events deleted by this pruning.")
    pruned_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "seq"], name="audit_chain_start_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.org} from #{self.seq + 1}"
