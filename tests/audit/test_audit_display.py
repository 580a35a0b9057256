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


def test_a_mapping_reads_as_pairs_with_its_amounts_as_money():
    assert (
        audit_value({"gpt-4o": "50.000000", "llama3:8b": "12.500000"}, "model_budgets")
        == "gpt-4o: $50.00, llama3:8b: $12.50"
    )
    assert audit_value({}, "model_budgets") == "—"
    assert audit_value("5.000000", "increase_amount") == "$5.00"
