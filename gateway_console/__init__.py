"""Tenancy: organisations, teams, people and their roles, admin tokens (the ground floor)."""
