"""`python -m memory mcp [--transport stdio|http] [--host H] [--port P] [--path /mcp]`.

Backend: with `SOMA_MEMORY_MCP_URL` set, the tools call that running service over HTTP;
otherwise this process builds the service from the `SOMA_MEMORY_*` settings (same database,
same tokens) and calls its Flask app in-process. Token for stdio: `SOMA_MEMORY_MCP_TOKEN`
(an environment variable, never an argument: argv is visible to every user).
"""

from __future__ import annotations

import argparse
import os
import sys

import httpx

from memory.client import MemoryClient
from memory.errors import ConfigError

IN_PROCESS_URL = "http://memory.in-process"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m memory mcp", description=__doc__.splitlines()[0])
    p.add_argument("--transport", choices=("stdio", "http"), default="stdio")
    p.add_argument("--host", default="127.0.0.1", help="HTTP listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=9596, help="HTTP listen port (default 9596)")
    p.add_argument("--path", default="/mcp", help="HTTP endpoint path (default /mcp)")
    return p


def backend(settings) -> tuple[httpx.Client, str]:
    """The httpx client and base URL the tools use: a running service, or this process's app."""
    url = os.environ.get("SOMA_MEMORY_MCP_URL", "").strip()
    if url:
        return httpx.Client(timeout=30.0), url
    from memory.api import create_app
    app = create_app(settings)  # builds the service: store, index, kernels (and the relay)
    return httpx.Client(transport=httpx.WSGITransport(app=app), timeout=30.0), IN_PROCESS_URL


def main(argv: list[str], settings) -> int:
    from memory.mcp.server import build_server
    args = _parser().parse_args(argv)
    if args.transport == "http" and not settings.auth_enabled and not _loopback(args.host):
        raise ConfigError(f"refusing to serve MCP on {args.host} without tokens: set SOMA_MEMORY_TOKENS "
                          f"or listen on 127.0.0.1")
    http, base_url = backend(settings)
    token = os.environ.get("SOMA_MEMORY_MCP_TOKEN") or None
    server = build_server(lambda tok: MemoryClient(base_url, tok, http=http),
                          stdio_token=token if args.transport == "stdio" else None)
    try:
        if args.transport == "stdio":
            server.run("stdio")
        else:
            print(f"memory MCP server on http://{args.host}:{args.port}{args.path}", file=sys.stderr)
            server.run("streamable-http", host=args.host, port=args.port, streamable_http_path=args.path)
    finally:
        http.close()
    return 0


def _loopback(host: str) -> bool:
    from memory.config import is_loopback
    return is_loopback(host)
