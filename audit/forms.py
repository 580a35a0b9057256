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
