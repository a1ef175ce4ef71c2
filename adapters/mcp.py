"""Tool-call telemetry for an MCP server built on the official ``mcp`` SDK (2.x): one call.

    from codeweaver_telemetry.adapters.mcp import instrument

    instrument(server)  # an MCPServer or a low-level Server; the client is the process's

It adds one middleware to the server's chain (the SDK's own seam for observing requests, and
the only one that also sees a request refused before its handler: invalid params, an unknown
method); no tool, schema or result is touched. For every ``tools/call`` it records the tool's
name (one the server itself registered, else ``__other__``), how the call ended, its duration,
and its response's size as counts (content items, characters of text), with the client's
label, version and protocol version from the connection. It never reads arguments, results'
content, resource URIs, prompt arguments, sampling or elicitation content, the transport's
session id, or any other text the client sends.

By default the calls are summed into the session event (``mcp_tool_calls``, ``mcp_clients``,
...), which ``end_session()`` sends; ``per_call=True`` sends one event per call instead, for
``sample_rate`` of them. Recording is a few dictionary updates on the event loop; an event
goes to the client's sink, which only buffers. A failure of telemetry never changes a call's
outcome: what the tool returned or raised reaches the client unchanged.

With telemetry off, ``instrument`` leaves the server as it was and imports nothing.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from .log import debug

if TYPE_CHECKING:
    from codeweaver_telemetry.core.domain import McpUsage, SessionStatistics, ToolCallOutcome
    from codeweaver_telemetry.core.mcp_event import ToolCall

    from .client import TelemetryClient

MAX_TOOLS: Final = 64
"""Tools known by name; a server's others are counted as ``__other__``."""

_VERSION: Final = re.compile(r"v?\d{1,6}(?:\.\d{1,6}){0,3}(?:[-+][0-9A-Za-z.]{1,16})?")
"""A client's version as versions are written (``1.0.44``, ``0.9.2-beta.1``): anything else it
sends there is free text, and is sent as ``__other__``."""

_PROTOCOL: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
"""MCP's protocol versions are dates (``2025-06-18``)."""

MAX_SAMPLES: Final = 100_000
"""Duration and size samples kept per session, in all (calls beyond are still counted)."""

MAX_CLIENTS: Final = 64
"""Distinct (client, version, protocol version) counted per session; the calls of any more
count as ``other`` and ``__other__``."""

MAX_CONTENT_READ: Final = 10_000
"""Content items whose text length is read per response (all of them are counted)."""

_OTHER: Final = "__other__"

_Client: TypeAlias = tuple[str, str, str]
"""A connection's client label, client version and protocol version."""


def instrument(
    server: Any,
    client: TelemetryClient | None = None,
    *,
    per_call: bool = False,
    sample_rate: float = 1.0,
) -> None:
    """Record ``server``'s tool calls with ``client`` (the process's client by default).

    ``server`` is an ``mcp.server.mcpserver.MCPServer`` or an ``mcp.server.Server``. With
    ``per_call``, each call is sent as its own event, for a share ``sample_rate`` (0 to 1)
    of the calls; otherwise they are summed into the session event. Never raises.
    """
    try:
        if client is None:
            from .registry import get_telemetry_client  # noqa: PLC0415

            client = get_telemetry_client()
        if not client.enabled or any(isinstance(m, ToolCallRecorder) for m in server.middleware):
            return  # (instrumenting twice would count every call twice)
        recorder = ToolCallRecorder(client, server, per_call=per_call, sample_rate=sample_rate)
        server.middleware.append(recorder)
        if not per_call:
            client.add_session_part(recorder.session_part)
    except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
        debug("telemetry: cannot instrument the MCP server (%s)", type(error).__name__)


@dataclass
class _ToolTally:
    """One tool's calls so far in the session."""

    outcomes: dict[ToolCallOutcome, int] = field(default_factory=dict)
    durations_ms: list[float] = field(default_factory=list)
    content_items: int = 0
    text_chars: list[int] = field(default_factory=list)


class ToolCallRecorder:
    """The middleware that records tool calls, and the tallies of the session so far."""

    def __init__(
        self, client: TelemetryClient, server: Any, *, per_call: bool, sample_rate: float
    ) -> None:
        # The SDK and the event code load here, with telemetry on only.
        from mcp.shared.exceptions import MCPError  # noqa: PLC0415
        from pydantic import ValidationError  # noqa: PLC0415

        from codeweaver_telemetry.core.domain import ToolCallOutcome  # noqa: PLC0415
        from codeweaver_telemetry.core.mcp_event import (  # noqa: PLC0415
            MCP_TOOL_KEY,
            ToolCall,
            mcp_client_label,
        )
        from codeweaver_telemetry.core.session_event import MCP_TOOL_CALLS_KEY  # noqa: PLC0415

        self._client = client
        self._server = server
        self._per_call = per_call
        self._sample_rate = min(1.0, max(0.0, float(sample_rate)))
        self._outcome = ToolCallOutcome
        self._make_call = ToolCall
        self._client_label = mcp_client_label
        self._protocol_errors = (MCPError, ValidationError)
        self._label_keys = (MCP_TOOL_CALLS_KEY, MCP_TOOL_KEY)
        self._known_tools: frozenset[str] = frozenset()
        self._tools_learned = False
        self._asked_server = False  # asked once at most: a bogus name costs no listing
        self._sampling = random.Random()  # a private draw: the host's seeded sequence stays
        self._client_labels: dict[tuple[object, object, object], _Client] = {}
        self._lock = threading.RLock()  # (a host's signal handler may end the session)
        self._reset()

    def _reset(self) -> None:
        self._tools: dict[str, _ToolTally] = {}
        self._clients: dict[_Client, int] = {}
        self._other_clients = 0
        self._samples_left = MAX_SAMPLES

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        """The middleware: ``tools/call`` is recorded, ``tools/list`` teaches the tools'
        names; every other request passes through untouched."""
        method = ctx.method
        if method == "tools/call":
            return await self._tool_call(ctx, call_next)
        result = await call_next(ctx)
        if method == "tools/list":
            self._learn_listed_tools(result)
        return result

    async def _tool_call(self, ctx: Any, call_next: Any) -> Any:
        if not self._tools_learned and not self._asked_server:
            # Before the first call runs: a tool it adds (named from its arguments, perhaps)
            # is not one of the server's own.
            await self._learn_registered_tools()
        started = time.perf_counter()
        try:
            result = await call_next(ctx)
        except BaseException as error:
            self._record(ctx, started, self._raised(error), None)
            raise
        outcome = self._outcome.TOOL_ERROR if _is_error(result) else self._outcome.OK
        self._record(ctx, started, outcome, result)
        return result

    def _raised(self, error: BaseException) -> ToolCallOutcome:
        if not isinstance(error, Exception):  # asyncio's and trio's cancellation, an exit
            return self._outcome.CANCELLED
        if isinstance(error, TimeoutError):
            return self._outcome.TIMEOUT
        if isinstance(error, self._protocol_errors):
            return self._outcome.PROTOCOL_ERROR
        return self._outcome.TOOL_ERROR

    def _record(self, ctx: Any, started: float, outcome: ToolCallOutcome, result: Any) -> None:
        """Record one call; whatever fails here is logged and forgotten."""
        try:
            duration_ms = (time.perf_counter() - started) * 1000.0
            items, chars = _response_size(result)
            name = _tool_name(ctx)
            tool = name if name is not None and name in self._known_tools else _OTHER
            client = self._client_of(ctx)
            call = self._make_call(tool, outcome, duration_ms, items, chars, *client)
            if not self._per_call:
                self._add(call, client, responded=result is not None)
            elif self._sample_rate >= 1.0 or self._sampling.random() < self._sample_rate:
                self._client.capture_mcp_tool_call(call, sample_rate=self._sample_rate)
        except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
            debug("telemetry: an MCP tool call was not recorded (%s)", type(error).__name__)

    def _client_of(self, ctx: Any) -> _Client:
        """The connection's client label, client version and protocol version (remembered
        for the few distinct ones a session sees: a 2026-07-28 client sends its information
        with every request)."""
        info = getattr(getattr(ctx.session, "client_params", None), "client_info", None)
        sent = (getattr(info, "name", None), getattr(info, "version", None), ctx.protocol_version)
        client = self._client_labels.get(sent)
        if client is None:
            name, version, protocol = sent
            client = (
                self._client_label(name),
                version if type(version) is str and _VERSION.fullmatch(version) else _OTHER,
                protocol if type(protocol) is str and _PROTOCOL.fullmatch(protocol) else _OTHER,
            )
            if len(self._client_labels) < MAX_CLIENTS:
                self._client_labels[sent] = client
        return client

    def _add(self, call: ToolCall, client: _Client, *, responded: bool) -> None:
        """Count the call; its duration is a sample, and its text size one when it returned
        a response (a cancelled call has none to measure)."""
        with self._lock:
            tally = self._tools.get(call.tool)
            if tally is None:
                tally = self._tools[call.tool] = _ToolTally()
            tally.outcomes[call.outcome] = tally.outcomes.get(call.outcome, 0) + 1
            tally.content_items += call.content_items
            if self._samples_left > 0:
                self._samples_left -= 1
                tally.durations_ms.append(call.duration_ms)
                if responded:
                    tally.text_chars.append(call.text_chars)
            clients = self._clients
            if client in clients or len(clients) < MAX_CLIENTS:
                clients[client] = clients.get(client, 0) + 1
            else:
                self._other_clients += 1

    def usage(self) -> McpUsage | None:
        """The session's calls so far, taken (the next session starts afresh); None when
        there were none."""
        from codeweaver_telemetry.core.domain import McpUsage, ToolUsage  # noqa: PLC0415

        with self._lock:
            tools, clients, other_clients = self._tools, self._clients, self._other_clients
            self._reset()
        if not tools:
            return None
        labels: dict[str, int] = {}
        versions: dict[str, int] = {}
        protocols: dict[str, int] = {}
        for (label, version, protocol), calls in clients.items():
            labels[label] = labels.get(label, 0) + calls
            versions[version] = versions.get(version, 0) + calls
            protocols[protocol] = protocols.get(protocol, 0) + calls
        if other_clients:
            for counts in (versions, protocols):
                counts[_OTHER] = counts.get(_OTHER, 0) + other_clients
            labels["other"] = labels.get("other", 0) + other_clients
        return McpUsage(
            tools={
                name: ToolUsage(
                    {outcome.value: count for outcome, count in tally.outcomes.items()},
                    tuple(tally.durations_ms),
                    tally.content_items,
                    tuple(tally.text_chars),
                )
                for name, tally in tools.items()
            },
            clients=labels,
            client_versions=versions,
            protocol_versions=protocols,
        )

    def session_part(self, stats: SessionStatistics) -> SessionStatistics:
        """The session's statistics with the calls added (unless the host set its own)."""
        if stats.mcp is not None:
            return stats
        usage = self.usage()
        return stats if usage is None else dataclasses.replace(stats, mcp=usage)

    def _learn_listed_tools(self, result: Any) -> None:
        """The names in the server's own ``tools/list`` result: its registered tools."""
        try:
            tools = result.get("tools") if isinstance(result, Mapping) else result.tools
            if not isinstance(tools, list):
                return
            self._learn(
                entry.get("name") if isinstance(entry, Mapping) else entry.name for entry in tools
            )
        except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
            debug("telemetry: the MCP tool list was not read (%s)", type(error).__name__)

    async def _learn_registered_tools(self) -> None:
        """An MCPServer's registered tools, asked of it when a call names one not yet known
        (a low-level server's are known from what it lists)."""
        self._asked_server = True
        list_tools = getattr(self._server, "list_tools", None)
        if list_tools is None:
            return
        try:
            self._learn(tool.name for tool in await list_tools())
        except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
            debug("telemetry: the MCP tools were not listed (%s)", type(error).__name__)

    def _learn(self, names: Iterable[object]) -> None:
        """The server's tools as it first lists them: its static vocabulary. A tool it adds
        later may be named from a client's arguments, so it is counted as ``__other__``; and
        at most MAX_TOOLS, so that a gateway's hundreds cannot push the session event past
        its size bound."""
        if self._tools_learned:
            return
        self._tools_learned = True
        found = frozenset(
            itertools.islice((name for name in names if type(name) is str), MAX_TOOLS)
        )
        self._known_tools = found
        for key in self._label_keys:
            self._client.declare_labels(key, found)


def _tool_name(ctx: Any) -> str | None:
    params = ctx.params
    name = params.get("name") if isinstance(params, Mapping) else None
    return name if type(name) is str else None


def _is_error(result: Any) -> bool:
    if isinstance(result, Mapping):
        return result.get("isError") is True
    return getattr(result, "is_error", False) is True


def _response_size(result: Any) -> tuple[int, int]:
    """Content items, and characters of their text, as numbers only."""
    if result is None:
        return 0, 0
    content = (
        result.get("content") if isinstance(result, Mapping) else getattr(result, "content", None)
    )
    if not isinstance(content, list):
        return 0, 0
    chars = 0
    for item in content[:MAX_CONTENT_READ]:
        text = item.get("text") if isinstance(item, Mapping) else getattr(item, "text", None)
        if type(text) is str:
            chars += len(text)
    return len(content), chars
