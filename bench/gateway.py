"""The cost of the console in the path (issue 10): OpenAI-style calls through Traefik to a fake
provider, once through a plain Traefik proxy and once through the shipped data plane
(deploy/traefik/run: the guard, ForwardAuth with the body, the usage reporter), in one run.

The fake provider is Envoy answering a fixed chat completion (with its usage) from its own
configuration: at once, and, on a second port, after PROVIDER_MS (50 ms; no real provider
answers that fast: a short completion takes a few hundred). Both proxies are the same Traefik
binary with the same static settings; only the routing configuration differs.

- `gateway_throughput_ratio`: closed-loop requests/s (wrk, 16 connections) with the console ÷
  without, against the 50 ms provider: whether the console keeps up with clients of a fast
  provider.
- `gateway_throughput_ratio_instant_provider`: the same against the provider that answers at
  once: the console's whole cost against Traefik's own, with nothing to hide it.
- `gateway_added_p50_ms`, `gateway_added_p99_ms`: at a fixed 100 requests/s (open loop,
  latency from each request's due time), against the instant provider: p50 and p99 with the
  console minus without.

Every request through the console is held and reported. bench/run.py checks the fixed-rate run,
whose client waits for every answer: each of its requests has its usage event, and its holds are
all settled by them. (wrk leaves requests unanswered when it stops: a request it abandons while
the console decides holds until HOLD_TTL, as any forward-auth gateway leaves it.)
"""

import os
import re
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
COMPLETION = (
    '{"id":"chatcmpl-bench","object":"chat.completion","created":1,"model":"gpt-4o-mini",'
    '"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"ok"}}],'
    '"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}'
)
BODY = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":16}'
PATH = "/v1/chat/completions"
COLOURS = re.compile(r"\x1b\[[0-9;]*m")  # Traefik colours its log's level and fields
RATE = 100
PROVIDER_MS = int(os.environ.get("BENCH_PROVIDER_MS", "50"))

WRK_SCRIPT = """
local keys = {%s}
local i = 0
request = function()
  i = i %% #keys + 1
  return wrk.format("POST", "%s", {
    ["Authorization"] = "Bearer " .. keys[i],
    ["Content-Type"] = "application/json",
  }, '%s')
end
"""

PLAIN_TRAEFIK = """
http:
  routers:
    openai:
      entryPoints: [gateway]
      rule: PathPrefix(`/`)
      service: openai
  services:
    openai:
      loadBalancer:
        passHostHeader: false
        servers:
          - url: "{provider}"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    def __init__(self, args: list[str], env: dict | None = None, cwd: Path = ROOT):
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the process)
        self.handle = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def stop(self) -> None:
        self.handle.terminate()
        try:
            self.handle.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.handle.kill()

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")


def _answers(port: int) -> bool:
    import http.client

    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        conn.request("POST", PATH, body=BODY, headers={"Content-Type": "application/json"})
        return conn.getresponse().status in (200, 401)
    except OSError:
        return False


def _wait(process: Process, port: int) -> None:
    for _ in range(300):
        if process.handle.poll() is not None:
            process.log.seek(0)
            raise RuntimeError(f"exited: {process.log.read().decode()[-2000:]}")
        if _answers(port):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answers on port {port}")


def _provider_config(instant_port: int, slow_port: int) -> str:
    """Envoy answering COMPLETION itself (direct_response), on one port at once and on the
    other after PROVIDER_MS (its fault filter's fixed delay)."""
    import json

    def listener(port: int, delay_ms: int) -> dict:
        filters = []
        if delay_ms:
            filters.append(
                {
                    "name": "envoy.filters.http.fault",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
                        "delay": {
                            "fixed_delay": f"{delay_ms / 1000}s",
                            "percentage": {"numerator": 100, "denominator": "HUNDRED"},
                        },
                    },
                }
            )
        filters.append(
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            }
        )
        return {
            "name": f"provider-{port}",
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [
                {
                    "filters": [
                        {
                            "name": "envoy.filters.network.http_connection_manager",
                            "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                                "stat_prefix": "provider",
                                "route_config": {
                                    "virtual_hosts": [
                                        {
                                            "name": "provider",
                                            "domains": ["*"],
                                            "routes": [
                                                {
                                                    "match": {"prefix": "/"},
                                                    "direct_response": {
                                                        "status": 200,
                                                        "body": {"inline_string": COMPLETION},
                                                    },
                                                    "response_headers_to_add": [
                                                        {
                                                            "header": {
                                                                "key": "content-type",
                                                                "value": "application/json",
                                                            }
                                                        }
                                                    ],
                                                }
                                            ],
                                        }
                                    ]
                                },
                                "http_filters": filters,
                            },
                        }
                    ]
                }
            ],
        }

    return json.dumps(
        {
            "static_resources": {
                "listeners": [listener(instant_port, 0), listener(slow_port, PROVIDER_MS)]
            }
        }
    )


def _static_flags(port: int) -> list[str]:
    return [
        f"--entryPoints.gateway.address=127.0.0.1:{port}",
        "--global.checkNewVersion=false",
        "--global.sendAnonymousUsage=false",
        "--log.level=ERROR",
    ]


def _wrk(port: int, script: Path, seconds: int) -> tuple[float, int]:
    """(requests/s, requests) of a closed-loop wrk run."""
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "2",
            "-c",
            "16",
            "-d",
            f"{seconds}s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        raise RuntimeError(
            f"wrk saw {non_2xx.group(1)} failed responses through the gateway:\n{out}"
        )
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return rps, int(re.search(r"(\d+) requests in", out).group(1))


class Gateways:
    """The fake provider and, for each of its two ports, a plain Traefik and the shipped one,
    for the duration of a `with` block."""

    def __init__(self, console_port: int, gateway_token: str, plaintexts: list[str]):
        self.console_port = console_port
        self.gateway_token = gateway_token
        self.plaintexts = plaintexts
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
        self.processes: list[Process] = []
        self.ports: dict[str, tuple[int, int]] = {}
        self.script = self.tmp / "through.lua"

    def __enter__(self) -> "Gateways":
        instant, slow = free_port(), free_port()
        (self.tmp / "provider.json").write_text(_provider_config(instant, slow))
        keys_lua = ",".join(f'"{p}"' for p in self.plaintexts)
        self.script.write_text(WRK_SCRIPT % (keys_lua, PATH, BODY))
        try:
            self.processes.append(
                Process(
                    [
                        str(BIN / "envoy"),
                        "-c",
                        str(self.tmp / "provider.json"),
                        "--log-level",
                        "error",
                        "--disable-hot-restart",
                    ]
                )
            )
            for name, provider in (("instant", instant), ("slow", slow)):
                self.ports[name] = self._start_pair(name, provider)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start_pair(self, name: str, provider: int) -> tuple[int, int]:
        plain_port, through_port = free_port(), free_port()
        plain_config = self.tmp / f"plain-{name}.yml"
        plain_config.write_text(PLAIN_TRAEFIK.replace("{provider}", f"http://127.0.0.1:{provider}"))
        plain = Process(
            [
                str(BIN / "traefik"),
                *_static_flags(plain_port),
                f"--providers.file.filename={plain_config}",
            ]
        )
        through = Process(
            [str(ROOT / "deploy" / "traefik" / "run")],
            env={
                **os.environ,
                "GATEWAY_TOKEN": self.gateway_token,
                "CONSOLE": f"127.0.0.1:{self.console_port}",
                "UPSTREAM": f"http://127.0.0.1:{provider}",
                "UPSTREAM_API_KEY": "bench-provider-key",
                "LISTEN": f"127.0.0.1:{through_port}",
                "LOG_LEVEL": "ERROR",
            },
        )
        self.processes += [plain, through]
        for process, port in ((plain, plain_port), (through, through_port)):
            _wait(process, port)
        return plain_port, through_port

    def __exit__(self, *exc) -> None:
        for process in reversed(self.processes):
            process.stop()

    def throughput(self, seconds: int, *, warm_up: bool = True) -> dict:
        """Closed loop, without and with the console, against both providers (each warmed up
        first, unless `warm_up` is false: bench/run.py warms them once for its repeats)."""
        figures = {}
        for name in ("instant", "slow"):
            plain_port, through_port = self.ports[name]
            if warm_up:
                _wrk(plain_port, self.script, 3)
                _wrk(through_port, self.script, 3)
            figures[name] = (
                _wrk(plain_port, self.script, seconds)[0],
                _wrk(through_port, self.script, seconds)[0],
            )
        (without, with_console), (slow_without, slow_with) = figures["instant"], figures["slow"]
        return {
            "gateway_provider_ms": PROVIDER_MS,
            "gateway_without_console_rps": slow_without,
            "gateway_with_console_rps": slow_with,
            "gateway_throughput_ratio": round(slow_with / slow_without, 3),
            "gateway_without_console_instant_rps": without,
            "gateway_with_console_instant_rps": with_console,
            "gateway_throughput_ratio_instant_provider": round(with_console / without, 3),
        }

    def latency(self, seconds: int, fixed_rate) -> dict:
        """At RATE requests/s against the instant provider, without and with the console;
        `fixed_rate` is bench/run.py's open-loop client. Every request completes (no client
        leaves early), so each one through the console must come back as a usage event."""
        quiet = {"gateway_token": False, "path": PATH, "body": BODY}
        plain_port, through_port = self.ports["instant"]
        without = fixed_rate(self.plaintexts[0], RATE, seconds, port=plain_port, **quiet)
        with_console = fixed_rate(self.plaintexts[0], RATE, seconds, port=through_port, **quiet)
        return {
            "gateway_without_console_p50_ms": round(without["p50_ms"], 2),
            "gateway_without_console_p99_ms": round(without["p99_ms"], 2),
            "gateway_with_console_p50_ms": round(with_console["p50_ms"], 2),
            "gateway_with_console_p99_ms": round(with_console["p99_ms"], 2),
            "gateway_added_p50_ms": round(with_console["p50_ms"] - without["p50_ms"], 2),
            "gateway_added_p99_ms": round(with_console["p99_ms"] - without["p99_ms"], 2),
        }

    def reporter_log(self) -> str:
        """What the usage reporters said (drops, refusals, retries), and Traefik's own errors
        and warnings (a console or a provider it could not reach), without Traefik's colours."""
        lines = (
            COLOURS.sub("", line)
            for process in self.processes[1:]
            for line in process.output().splitlines(keepends=True)
        )
        return "".join(
            line
            for line in lines
            if "plugin=gatewayconsole" in line or " ERR " in line or " WRN " in line
        )
