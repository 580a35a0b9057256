from audit.templatetags.audit_display import audit_value


def test_amounts_read_as_money():
    assert audit_value("100.000000", "monthly_spend_cap") == "$100.00"


def test_lists_are_joined():
    assert (
        audit_value(["gpt-4o-mini", "claude-3-5-haiku"], "model_scope")
        == "gpt-4o-mini, claude-3-5-haiku"
    )


def test_empty_values_are_a_dash():
    assert audit_value(None, "team") == "—"
    assert audit_value("", "user_id") == "—"
    assert audit_value([], "model_scope") == "—"


def test_other_values_are_shown_as_they_are():
    assert audit_value("daily", "limit_period") == "daily"
    assert audit_value(120, "rpm_limit") == 120
