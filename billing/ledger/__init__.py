"""The wallet and its ledger: what things cost (prices, plans), top-ups, adjustments and refunds,
the usage debits, and the daily reconciliation of balances against the ledger."""
