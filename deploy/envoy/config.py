"""Envoy in front of the model providers, asking Gateway Console about every request: prints
Envoy's configuration (JSON, which Envoy reads as YAML) for the environment that
deploy/envoy/run passes on. Python's standard library only.

Envoy's ext_authz filter sends the console the client's credentials and the body, so the console
checks the key, its status and expiry, the model (also one named only in the body), the wallet,
the caps as they stand and requests per minute. Envoy does not report usage: nothing is held,
and spend and tokens move only with usage that something else reports. deploy/traefik does both.
"""

import json
import os
import sys
from urllib.parse import urlsplit

# Headers only the gateway and the console may set; Lua (below) drops a client's.
CONSOLE_HEADERS_LUA = """
function strip(headers, names_too)
  local drop = {}
  for name, _ in pairs(headers) do
    local lower = string.lower(name)
    if string.sub(lower, 1, 10) == "x-gateway-" or lower == "x-request-id" then
      table.insert(drop, name)
    end
  end
  for _, name in ipairs(drop) do headers:remove(name) end
end
"""

BEFORE_AUTHORIZE_LUA = (
    CONSOLE_HEADERS_LUA
    + """
function envoy_on_request(handle)
  strip(handle:headers())
end
"""
)

# After the console allowed the request: take the client's key out of the query (a Gemini
# ?key=) and keep the console's answer headers off the provider, all but the X-Key-Id family.
AFTER_AUTHORIZE_LUA = (
    CONSOLE_HEADERS_LUA
    + """
function envoy_on_request(handle)
  local headers = handle:headers()
  strip(headers)
  local path = headers:get(":path")
  local base, query = string.match(path, "^([^?]*)%?(.*)$")
  if query then
    local kept = {}
    for part in string.gmatch(query, "[^&]+") do
      if string.sub(part, 1, 4) ~= "key=" then table.insert(kept, part) end
    end
    if #kept > 0 then
      headers:replace(":path", base .. "?" .. table.concat(kept, "&"))
    else
      headers:replace(":path", base)
    end
  end
end
"""
)


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name) or default
    if value is None:
        sys.exit(f"deploy/envoy: set {name}")
    return value


def endpoint(url: str) -> tuple[str, int, bool]:
    """(host, port, TLS) of http://host[:port] or https://host[:port]; a bare host:port is
    http."""
    if "://" not in url:
        url = f"http://{url}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        sys.exit(f"deploy/envoy: {url} is not an http(s) URL")
    tls = parts.scheme == "https"
    return parts.hostname, parts.port or (443 if tls else 80), tls


def cluster(name: str, url: str) -> dict:
    host, port, tls = endpoint(url)
    config = {
        "name": name,
        "type": "LOGICAL_DNS",
        "dns_lookup_family": "V4_PREFERRED",
        "connect_timeout": "5s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {"socket_address": {"address": host, "port_value": port}}
                            }
                        }
                    ]
                }
            ],
        },
    }
    if tls:
        config["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": host,
            },
        }
    return config


def patterns(*names: str, prefix: tuple[str, ...] = ()) -> dict:
    return {
        "patterns": [{"exact": n, "ignore_case": True} for n in names]
        + [{"prefix": p, "ignore_case": True} for p in prefix]
    }


def provider_route(match: dict, provider: str, credential: tuple[str, str]) -> dict:
    upstream = env(f"UPSTREAM_{provider.upper()}", env("UPSTREAM", "https://api.openai.com"))
    host, _, _ = endpoint(upstream)
    header, value = credential
    return {
        "match": match,
        "route": {
            "cluster": provider,
            "host_rewrite_literal": host,
            # A streamed answer may take minutes.
            "timeout": "0s",
        },
        # The client's console key stops here; the provider gets the gateway's own key.
        "request_headers_to_remove": ["authorization", "x-api-key", "x-goog-api-key"],
        "request_headers_to_add": [
            {
                "header": {"key": header, "value": value},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }
        ],
    }


def lua(name: str, code: str) -> dict:
    return {
        "name": name,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
            "default_source_code": {"inline_string": code},
        },
    }


def config() -> dict:
    token = env("GATEWAY_TOKEN")
    default_key = os.environ.get("UPSTREAM_API_KEY", "")

    def key_of(provider: str) -> str:
        key = os.environ.get(f"UPSTREAM_{provider.upper()}_API_KEY") or default_key
        if not key:
            sys.exit(f"deploy/envoy: set UPSTREAM_API_KEY (or UPSTREAM_{provider.upper()}_API_KEY)")
        return key

    listen_host, _, listen_port = env("LISTEN", ":8080").rpartition(":")
    max_body = int(env("MAX_BODY_BYTES", "4194304"))
    console = env("CONSOLE", "127.0.0.1:8000").rstrip("/")
    console_url = console if "://" in console else f"http://{console}"
    json_error = {
        "content_type": "application/json",
        "json_format": {
            "error": {
                "type": "invalid_request_error",
                "code": "request_too_large",
                "message": f"The request body is larger than this gateway accepts ({max_body} bytes). Send a smaller request.",
            }
        },
    }
    routes = [
        provider_route({"prefix": "/v1/messages"}, "anthropic", ("x-api-key", key_of("anthropic"))),
        provider_route({"prefix": "/v1beta/"}, "gemini", ("x-goog-api-key", key_of("gemini"))),
        provider_route(
            {"safe_regex": {"regex": "^/v1/models/[^/]+:.*"}},
            "gemini",
            ("x-goog-api-key", key_of("gemini")),
        ),
        provider_route({"prefix": "/"}, "openai", ("authorization", f"Bearer {key_of('openai')}")),
    ]
    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "gateway",
        # Envoy appends the address the client connected from to X-Forwarded-For (behind proxies
        # of your own, set xff_num_trusted_hops, and the console's GATEWAY_PROXY_COUNT, to their
        # number): the address a key's IP allowlist is checked against.
        "use_remote_address": True,
        "route_config": {
            "name": "providers",
            "virtual_hosts": [{"name": "providers", "domains": ["*"], "routes": routes}],
        },
        # Envoy's own refusals (a body over the limit) in the console's JSON error body.
        "local_reply_config": {
            "mappers": [
                {
                    "filter": {
                        "status_code_filter": {
                            "comparison": {
                                "op": "EQ",
                                "value": {"default_value": 413, "runtime_key": "unused"},
                            }
                        }
                    },
                    "body_format_override": json_error,
                }
            ]
        },
        "http_filters": [
            lua("gateway.console_headers", BEFORE_AUTHORIZE_LUA),
            {
                "name": "envoy.filters.http.ext_authz",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
                    "transport_api_version": "V3",
                    # The body goes to the console: the model, max_tokens and the prompt's
                    # size. A longer body is refused with a 413, never sent without it.
                    "with_request_body": {
                        "max_request_bytes": max_body,
                        "allow_partial_message": False,
                    },
                    "failure_mode_allow": False,
                    "status_on_error": {"code": "ServiceUnavailable"},
                    # What the console may see of the client's request: the key, the body's
                    # type, the user agent, and X-Forwarded-For, to which Envoy appended the
                    # address the client connected from (use_remote_address, above).
                    "allowed_headers": patterns(
                        "authorization",
                        "x-api-key",
                        "x-goog-api-key",
                        "content-type",
                        "user-agent",
                        "x-forwarded-for",
                    ),
                    "http_service": {
                        "server_uri": {"uri": console_url, "cluster": "console", "timeout": "5s"},
                        # Envoy appends the client's path, which the console reads for a
                        # Gemini model and key.
                        "path_prefix": "/api/v1/gateway/authorize",
                        "authorization_request": {
                            "headers_to_add": [{"key": "x-gateway-token", "value": token}],
                        },
                        "authorization_response": {
                            # Onto the request: the key's facts for the provider, the console's
                            # headers (dropped again before the provider).
                            "allowed_upstream_headers": patterns(
                                "x-key-id",
                                "x-team-id",
                                "x-user-id",
                                prefix=("x-ratelimit-",),
                            ),
                            # A refusal reaches the client as the console wrote it.
                            "allowed_client_headers": patterns("content-type", "retry-after"),
                            # The console's id of an allowed request, for the client to look up.
                            "allowed_client_headers_on_success": patterns("x-gateway-request-id"),
                        },
                    },
                },
            },
            lua("gateway.client_key", AFTER_AUTHORIZE_LUA),
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            },
        ],
    }
    return {
        "static_resources": {
            "listeners": [
                {
                    "name": "gateway",
                    "address": {
                        "socket_address": {
                            # LISTEN=:8080 listens on every interface, as Traefik and Caddy do.
                            "address": listen_host or "0.0.0.0",  # noqa: S104
                            "port_value": int(listen_port),
                        }
                    },
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": manager,
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [
                cluster("console", console_url),
                cluster(
                    "openai", env("UPSTREAM_OPENAI", env("UPSTREAM", "https://api.openai.com"))
                ),
                cluster(
                    "anthropic",
                    env("UPSTREAM_ANTHROPIC", env("UPSTREAM", "https://api.openai.com")),
                ),
                cluster(
                    "gemini", env("UPSTREAM_GEMINI", env("UPSTREAM", "https://api.openai.com"))
                ),
            ],
        }
    }


if __name__ == "__main__":
    json.dump(config(), sys.stdout, indent=1)
