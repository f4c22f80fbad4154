"""MCP server of the memory service (official `mcp` SDK): tools remember, recall, forget.

`python -m memory mcp` / `inv memory.mcp` serve them over stdio (default) or streamable
HTTP. The tools call the service's own HTTP API through `memory.client`, either in-process
(the Flask app built from the same `SOMA_MEMORY_*` settings, over a WSGI transport, no
socket) or against a running service (`SOMA_MEMORY_MCP_URL`). Tenancy is the service's:
a bearer token maps to a namespace and its scopes. See docs/service.md, "MCP server".
"""
