"""Limits: the periods of caps, the counters of keys and teams, the holds authorize places on
them, the resets of ended periods, the rate limit, and the teams' caps."""
