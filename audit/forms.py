from django import forms


class EventFilterForm(forms.Form):
    """The audit page's and the export's filters, from the query string. Days are the org's
    days (its time zone); `to` is included."""

    actor = forms.CharField(required=False, max_length=200, strip=True)
    action = forms.CharField(required=False, max_length=64, strip=True)
    target = forms.CharField(required=False, max_length=200, strip=True)
    to = forms.DateField(required=False, label="To")

    def clean(self):
        cleaned = super().clean()
        first, last = cleaned.get("from"), cleaned.get("to")
        if first and last and last < first:
            self.add_error("to", "The last day comes before the first.")
        return cleaned


# `from` is a Python keyword, so it cannot be a class attribute; the URL says `from` and `to`.
EventFilterForm.base_fields = {
    **{name: f for name, f in EventFilterForm.base_fields.items() if name != "to"},
    "from": forms.DateField(required=False, label="From"),
    "to": EventFilterForm.base_fields["to"],
}


class RetentionForm(forms.Form):
    """An owner's opt-in to exporting, then pruning, the oldest audit events (audit.prune)."""

    prune = forms.BooleanField(
        required=False,
        label="Export, then prune, audit events older than:",
        help_text="Off: the log is kept for good.",
    )
    days = forms.IntegerField(
        required=False,
        min_value=365,
        max_value=3650,
        label="Days",
        help_text="365 to 3,650. Only events a signed checkpoint vouches for are pruned, and "
        "only after they are written to the export directory and read back.",
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("prune") and cleaned.get("days") is None and "days" not in self.errors:
            self.add_error("days", "How many days should the log keep?")
        return cleaned

    def chosen_days(self) -> int | None:
        return self.cleaned_data["days"] if self.cleaned_data["prune"] else None
