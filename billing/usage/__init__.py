"""Usage: the gateway's usage reports, recorded once each; their hourly rollups; the usage pages
and the request log; the gateway traffic figures."""
