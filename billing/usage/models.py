"""What requests cost and how many there were: usage events, their hourly rollups, and the
gateway traffic figures."""

from django.db import models
from django.utils import timezone

from gateway_console.models import Org, Team


class UsageEvent(models.Model):
    """What one request cost, as the gateway reported it. Kept after its key is deleted.

    Its references are checked by the code that writes it, not by the database: record_batch
    inserts an event only for a key it has just read (keys are never removed, only marked
    deleted), and Django still protects a referenced org or key from deletion and clears a
    deleted team (on_delete). A database foreign key checked each of a batch's 1,000 rows
    three times over at commit, some 15 % of the batch's time (issue 15)."""

    id = models.BigAutoField(primary_key=True)
    # No index of their own for `org` and `key`: usage_unique_request and usage_key_time_idx
    # begin with them (each index is written for every event).
    org = models.ForeignKey(
        Org, on_delete=models.PROTECT, db_constraint=False, db_index=False, related_name="+"
    )
    request_id = models.CharField(max_length=100)
    key = models.ForeignKey(
        "keys.Key",
        on_delete=models.PROTECT,
        db_constraint=False,
        db_index=False,
        related_name="usage_events",
    )
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        related_name="+",
    )
    model = models.CharField(max_length=100)
    input_tokens = models.PositiveBigIntegerField()
    output_tokens = models.PositiveBigIntegerField()
    cost_micros = models.BigIntegerField()
    status_code = models.PositiveSmallIntegerField()
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "request_id"], name="usage_unique_request")
        ]
        indexes = [models.Index(fields=["key", "-occurred_at"], name="usage_key_time_idx")]

    def __str__(self) -> str:
        return self.request_id


class UsageHourly(models.Model):
    """The usage of one key and model in one UTC hour, summed from its usage events: every
    usage chart and table reads these, never the events. Kept up to date by record_batch, in the
    batch's transaction; rebuilt from the events by billing.usage.rollups.rebuild_rollups."""

    id = models.BigAutoField(primary_key=True)
    org = models.ForeignKey(Org, on_delete=models.PROTECT, related_name="+")
    key = models.ForeignKey("keys.Key", on_delete=models.PROTECT, related_name="+")
    # The key's team at the hour's first recorded event (a key moved mid-hour keeps the hour
    # with its old team).
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model = models.CharField(max_length=100)
    hour = models.DateTimeField(help_text="The start of the hour, in UTC.")
    requests = models.BigIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cost_micros = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0, help_text="Requests with a status of 400 or more.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "model", "hour"], name="usage_hourly_once"),
        ]
        indexes = [
            models.Index(fields=["key", "hour"], name="usage_hourly_key_idx"),
            models.Index(fields=["org", "hour"], name="usage_hourly_org_idx"),
            models.Index(fields=["team", "hour"], name="usage_hourly_team_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.key_id} {self.model} {self.hour:%Y-%m-%d %H}:00"


class TrafficKind(models.TextChoices):
    AUTHORIZE = "authorize", "Authorize decision"
    USAGE = "usage", "Usage event"


class TrafficMinute(models.Model):
    """How many authorize decisions (by outcome: `allowed`, `allowed_no_model` or the denial's
    code) and usage events (`recorded`, `duplicate`) one org had in one UTC minute: the gateway
    page's health figures. Counted in each web process and added here in one statement every
    few seconds (billing.usage.traffic), never a write per request."""

    id = models.BigAutoField(primary_key=True)
    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    minute = models.DateTimeField(help_text="The start of the minute, in UTC.")
    kind = models.CharField(max_length=16, choices=TrafficKind.choices)
    outcome = models.CharField(max_length=64)
    count = models.BigIntegerField(default=0)
    last_at = models.DateTimeField(help_text="The latest of these seen in this minute.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["org", "minute", "kind", "outcome"], name="traffic_minute_once"
            ),
        ]
        indexes = [models.Index(fields=["org", "kind", "-minute"], name="traffic_org_kind_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.outcome} {self.minute:%Y-%m-%d %H:%M}: {self.count}"
