"""Recomputes the hourly usage rollups from the usage events; safe to run again."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from billing.usage.rollups import rebuild_rollups
from gateway_console.models import Org


class Command(BaseCommand):
    help = "Recompute the hourly usage rollups from the usage events (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--org", help="The org's slug; default: every org.")
        parser.add_argument("--since", help="An ISO 8601 time with a zone; default: all time.")

    def handle(self, *args, org=None, since=None, **options):
        org_obj = None
        if org:
            org_obj = Org.objects.filter(slug=org).first()
            if org_obj is None:
                raise CommandError(f"No org has the slug {org!r}.")
        since_at = None
        if since:
            since_at = parse_datetime(since)
            if since_at is None or since_at.tzinfo is None:
                raise CommandError("--since must be an ISO 8601 time with a time zone.")
        rows = rebuild_rollups(org=org_obj, since=since_at)
        self.stdout.write(f"Rebuilt {rows} hourly rollup rows.")
