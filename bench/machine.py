"""Whether the machine was busy while `make bench` measured (issue 15): the load average when
the bench starts, and every process that the bench did not start using more than
BUSY_CORE_SHARE of a core in any interval of SAMPLE_SECONDS while it runs, read from /proc.

The bench's own process tree (this process, gunicorn and its workers, wrk, Traefik, Envoy,
psql, manage.py) is left out. PostgreSQL and Redis are shared services that the bench drives
itself, so their load cannot be told apart from anyone else's: they are reported on their own
(mean and highest share of a core over the run, all their processes summed), never as a
warning."""

import os
import threading
import time

BUSY_CORE_SHARE = 0.2
# A 1-minute load average above this at the start (runnable processes, averaged) is a warning.
BUSY_LOAD = 0.5
SAMPLE_SECONDS = float(os.environ.get("BENCH_SAMPLE_SECONDS", "5"))
SHARED = {"postgres": "PostgreSQL", "redis-server": "Redis"}
TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: str) -> tuple[str, int, int, int] | None:
    """(command name, parent pid, CPU ticks used, start time in ticks) of a process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return name, int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[19])


def _snapshot() -> dict[int, tuple[str, int, int, int]]:
    found = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            stat = _stat(pid)
            if stat is not None:
                found[int(pid)] = stat
    return found


def _tree(snapshot: dict, root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (_, parent, _, _) in snapshot.items():
        children.setdefault(parent, []).append(pid)
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo += children.get(pid, [])
    return tree


def _command(pid: int, name: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            line = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        line = ""
    return (line or name)[:100]


class Watch:
    """Samples /proc in a thread from start() to stop()."""

    def __init__(self):
        self.load = os.getloadavg()
        self.cores = os.cpu_count() or 1
        self.busy: dict[int, dict] = {}
        self.shared: dict[str, list[float]] = {name: [] for name in SHARED.values()}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Watch":
        load = ", ".join(f"{n:.2f}" for n in self.load)
        print(f"Load average at the start: {load} (1, 5, 15 min; {self.cores} cores)", flush=True)
        if self.load[0] > BUSY_LOAD:
            print(
                f"WARNING: the machine was busy when the bench started (1-minute load"
                f" {self.load[0]:.2f} > {BUSY_LOAD}): the figures may be noise.",
                flush=True,
            )
        self._thread.start()
        return self

    def _run(self) -> None:
        me = os.getpid()
        before, then = _snapshot(), time.monotonic()
        while not self._stop.wait(SAMPLE_SECONDS):
            now_snapshot, now = _snapshot(), time.monotonic()
            self._sample(before, now_snapshot, now - then, _tree(now_snapshot, me))
            before, then = now_snapshot, now

    def _sample(self, before: dict, after: dict, seconds: float, ours: set[int]) -> None:
        self.samples += 1
        shared = dict.fromkeys(SHARED.values(), 0.0)
        for pid, (name, _, ticks, started) in after.items():
            if pid in ours:
                continue
            old = before.get(pid)
            used = ticks - old[2] if old and old[3] == started else ticks
            share = used / TICKS / seconds
            if name in SHARED:
                shared[SHARED[name]] += share
            elif share > BUSY_CORE_SHARE:
                seen = self.busy.setdefault(pid, {"command": _command(pid, name), "max": 0.0})
                seen["max"] = max(seen["max"], share)
                seen["intervals"] = seen.get("intervals", 0) + 1
        for service, share in shared.items():
            self.shared[service].append(share)

    def stop(self) -> dict:
        """The figures for results.json, after printing any warning."""
        self._stop.set()
        self._thread.join()
        busy = [
            f"pid {pid} ({seen['command']}): up to {seen['max']:.0%} of a core,"
            f" {seen['intervals']} of {self.samples} samples"
            for pid, seen in sorted(self.busy.items(), key=lambda item: -item[1]["max"])
        ]
        for line in busy:
            print(f"WARNING: busy beside the bench: {line}", flush=True)
        shared = {
            service: {
                "mean_core_pct": round(100 * sum(shares) / len(shares)) if shares else 0,
                "max_core_pct": round(100 * max(shares)) if shares else 0,
            }
            for service, shares in self.shared.items()
        }
        print(
            "Shared services (the bench's load and anyone else's): "
            + "; ".join(
                f"{service} {s['mean_core_pct']}% of a core on average, {s['max_core_pct']}% at most"
                for service, s in shared.items()
            ),
            flush=True,
        )
        return {
            "machine_load_average_start": [round(n, 2) for n in self.load],
            "machine_cores": self.cores,
            "machine_busy_at_start": self.load[0] > BUSY_LOAD,
            "machine_busy_processes": busy,
            "machine_samples": self.samples,
            "machine_shared_services": shared,
        }
