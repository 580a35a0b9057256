"""How steady `make bench` is (issue 15): every figure is measured REPEATS times (BENCH_REPEATS,
3), and results.json holds the median under the figure's own name, its spread
((max - min) / median) under "spread", and the values of each repeat under "runs". A ratio is
computed within each repeat, from two figures measured back to back, and then its median taken
(never the ratio of two medians)."""

import os
import statistics

REPEATS = max(1, int(os.environ.get("BENCH_REPEATS", "3")))


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def combine(runs: list[dict]) -> tuple[dict, dict, dict]:
    """(figures, spreads, values per repeat) of a figure dict per repeat. Numbers: the median
    and, when measured in more than one repeat, its spread; booleans: true only if true in every repeat; anything else: the value if
    every repeat agrees, else the list of values."""
    names = list(dict.fromkeys(name for run in runs for name in run))
    figures, spreads, values = {}, {}, {}
    for name in names:
        seen = [run[name] for run in runs if name in run]
        if all(_number(v) for v in seen):
            median = statistics.median(seen)
            if all(isinstance(v, int) for v in seen) and median == int(median):
                median = int(median)
            elif isinstance(median, float):
                median = round(median, 3)
            figures[name] = median
            if len(seen) > 1:
                spreads[name] = round((max(seen) - min(seen)) / median, 3) if median else 0.0
                values[name] = seen
        elif all(isinstance(v, bool) for v in seen):
            figures[name] = all(seen)
        else:
            figures[name] = seen[0] if all(v == seen[0] for v in seen) else seen
    return figures, spreads, values
