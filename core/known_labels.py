"""Declared vocabularies the library's own events use: words that are always kept.

A label in a property's vocabulary passes the wire check even when it equals one of the
machine's sensitive literals (a working directory named ``python`` or ``test``): these are
public words, so keeping them tells nothing about the machine.
"""

from __future__ import annotations

import enum
from typing import Final


def _words(text: str) -> frozenset[str]:
    """The white-space separated words of ``text``: long vocabularies stay readable."""
    return frozenset(text.split())


def values_of(enumeration: type[enum.Enum]) -> frozenset[str]:
    """The text values of an Enum's members, as the events send them.

    >>> import enum
    >>> sorted(values_of(enum.Enum("Mode", {"FAST": "fast", "SLOW": "slow"})))
    ['fast', 'slow']
    """
    return frozenset(str(member.value) for member in enumeration)


LANGUAGES: Final = _words(
    """
    ada agda apex asm assembly astro bash bicep c c# c++ clojure cmake cobol coffeescript
    commonlisp cpp crystal csharp css csv cuda cython d dart dhall dockerfile elixir elm erlang
    f# fish fortran fsharp gdscript gleam glsl go graphql groovy hack haskell haxe hcl html ini
    java javascript jinja json json5 jsonc jsx julia kotlin latex less lisp lua make makefile
    markdown matlab mdx meson mojo nim nix objc objective-c objectivec ocaml odin pascal perl
    php plaintext powershell prolog proto protobuf purescript python r racket raku reason
    rescript rst ruby rust sass scala scheme scss shell solidity sql starlark svelte swift
    systemverilog tcl terraform tex text toml tsx typescript typst v vala verilog vhdl vim vue
    wasm wgsl xml yaml zig zsh
    """
)
"""Programming, markup and configuration languages, as code tools name them (lower case)."""

FILE_CATEGORIES: Final = _words(
    """
    binary build code config data docs documentation generated markup other script test tests
    """
)
"""The kinds of file a code index counts."""

VECTOR_STORES: Final = _words(
    """
    chroma duckdb elasticsearch faiss inmemory lancedb memory milvus opensearch pgvector
    pinecone qdrant redis sqlite turbopuffer vespa weaviate
    """
)
"""Vector stores a code-search tool may run on, as it names them."""

MCP_CLIENTS: Final = _words(
    """
    claude-code claude-desktop cline codex continue copilot cursor gemini-cli goose jetbrains
    mcp-inspector opencode roo-code vscode windsurf zed other
    """
)
"""Well-known MCP clients, as the telemetry names them (``other`` for any other client)."""

MCP_CLIENT_NAMES: Final = {
    "claude-ai": "claude-desktop",
    "cursor-vscode": "cursor",
    "visual-studio-code": "vscode",
    "visual-studio-code---insiders": "vscode",
    "windsurf-client": "windsurf",
    "continue-client": "continue",
    "codex-mcp-client": "codex",
    "gemini-cli-mcp-client": "gemini-cli",
    "inspector-client": "mcp-inspector",
    "github-copilot": "copilot",
}
"""The names those clients send in ``clientInfo`` (lower case, white space as ``-``), where
they differ from the label."""

MCP_PROTOCOL_VERSIONS: Final = _words("2024-11-05 2025-03-26 2025-06-18 2025-11-25 2026-07-28")
"""The MCP specification's protocol versions."""
