"""The MCP tools over a memory backend; the transport and the backend are chosen by __main__.

Tenancy: every tool call acts with one bearer token, which the memory API verifies and maps
to a namespace (and scopes), exactly as for any HTTP caller. Over stdio the token is the
process's (`SOMA_MEMORY_MCP_TOKEN`); over streamable HTTP it is the caller's own
`Authorization: Bearer` header, passed through unchanged and never trusted here.
"""

from __future__ import annotations

from typing import Any, Callable, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from memory.client import MemoryClient, MemoryClientError
from memory.memory_type import MemoryType as _Types

# the tools' parameter takes the values of the one MemoryType enum (an inline enum in the
# tool's input schema, as before)
MemoryType = Literal[tuple(t.value for t in _Types)]
INSTRUCTIONS = (
    "Long-term memory. `remember` stores a text (with optional JSON payload as metadata), "
    "`recall` returns the memories closest in meaning to a query, best first, with scores, "
    "`list_memories` pages through them newest first, `forget` deletes one memory by id. "
    "Memories are private to the namespace of your token.")


def bearer(ctx: Context | None) -> str | None:
    """The caller's bearer token from an HTTP transport's request, if any."""
    headers = ctx.headers if ctx is not None else None
    if not headers:
        return None
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def build_server(client_for: Callable[[str | None], MemoryClient], *, stdio_token: str | None = None) -> MCPServer:
    """An MCPServer whose tools act through `client_for(token)`: the caller's bearer token on
    HTTP, else `stdio_token`."""
    server = MCPServer("somastack-memory", instructions=INSTRUCTIONS)

    def client(ctx: Context | None) -> MemoryClient:
        return client_for(bearer(ctx) or stdio_token)

    def call(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except MemoryClientError as exc:  # the service's problem, as the tool's error text
            raise ToolError(str(exc)) from None

    @server.tool()
    def remember(text: str, payload: dict[str, Any] | None = None, memory_type: MemoryType = "episodic",
                 importance: float = 1.0, id: str | None = None, ctx: Context = None) -> dict[str, Any]:
        """Store a memory: its text (embedded by the service) and optional JSON metadata.
        Returns the stored memory (its id is what forget takes)."""
        memory = call(lambda: client(ctx).remember(text, payload=payload, memory_type=memory_type,
                                                   importance=importance, id=id))
        return memory.model_dump(by_alias=True, exclude_none=True)

    @server.tool()
    def recall(query: str, k: int = 5, memory_type: MemoryType | None = None,
               payload: dict[str, Any] | None = None, mode: Literal["vector", "keyword", "hybrid"] = "hybrid",
               ctx: Context = None) -> list[dict[str, Any]]:
        """The k memories best matching the query, best first, each with its score, text and
        metadata. mode: hybrid (default: meaning and exact words), vector (meaning only) or
        keyword (exact words: names, codes); `payload` keeps only memories whose metadata has
        these key/values."""
        hits = call(lambda: client(ctx).recall(query, k=k, memory_type=memory_type, payload=payload,
                                               mode=mode))
        return [h.model_dump(by_alias=True, exclude_none=True) for h in hits]

    @server.tool()
    def list_memories(limit: int = 20, cursor: str | None = None, memory_type: MemoryType | None = None,
                      payload: dict[str, Any] | None = None, ctx: Context = None) -> dict[str, Any]:
        """The namespace's memories, newest first, with their text and metadata; `payload`
        keeps only memories whose metadata has these key/values. Pass the answer's
        next_cursor as `cursor` for the next page (null: no more)."""
        page = call(lambda: client(ctx).list_memories(limit=limit, cursor=cursor, memory_type=memory_type,
                                                      payload=payload))
        return {"memories": [m.model_dump(by_alias=True, exclude_none=True) for m in page.memories],
                "next_cursor": page.next_cursor}

    @server.tool()
    def forget(id: str, ctx: Context = None) -> dict[str, Any]:
        """Delete one memory by id. Forgetting an id that does not exist is not an error."""
        call(lambda: client(ctx).forget(id))
        return {"id": id, "forgotten": True}

    return server
