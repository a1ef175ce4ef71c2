"""A KeyboardInterrupt injected deterministically at the n-th point where a real Ctrl-C could
land in the library's code, so that a test can try every such point, one run each.

A real signal raises its exception only where CPython checks for pending signals (at a
function's start, a backward jump, the return of a call). A ``sys.settrace`` hook that raises
at every line event finds all of those, and one more kind that no signal can reach: the line
event that starts a ``with`` block's normal exit (CPython gives the ``__exit__`` call the
``with`` statement's line), where no check happens between the block's last statement and
``__exit__``. Raising there would "strand" any lock taken by ``with``, which a real interrupt
cannot do; those line events are skipped.
"""

from __future__ import annotations

import dis
import functools
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

PACKAGE = Path(__file__).resolve().parent.parent
LIBRARY_FILES = (
    str(PACKAGE / "adapters") + os.sep,
    str(PACKAGE / "core") + os.sep,
    os.path.join("codeweaver_telemetry", "adapters", ""),
    os.path.join("codeweaver_telemetry", "core", ""),
)
"""Where the library's code is, in the source tree or in an (editable) installation."""


@functools.cache
def _with_exit_offsets(code: CodeType) -> frozenset[int]:
    """The offsets of line starts that begin a with statement's normal exit."""
    instructions = list(dis.get_instructions(code))
    with_lines = {
        line
        for line, instruction in _with_line(instructions)
        if instruction.opname in {"BEFORE_WITH", "BEFORE_ASYNC_WITH"}
    }
    entered: set[int] = set()
    offsets = set()
    for line, instruction in _with_line(instructions):
        if instruction.opname in {"BEFORE_WITH", "BEFORE_ASYNC_WITH"}:
            entered.add(line)
        elif instruction.starts_line is not None and line in with_lines and line in entered:
            offsets.add(instruction.offset)
    return frozenset(offsets)


def _with_line(instructions: list[dis.Instruction]) -> Iterable[tuple[int, dis.Instruction]]:
    line = 0
    for instruction in instructions:
        if instruction.starts_line is not None:
            line = instruction.starts_line
        yield line, instruction


class Interrupter:
    """A trace function raising KeyboardInterrupt at the ``nth`` line event (counted from 1)
    in ``files``, once; with ``nth=0`` it only counts."""

    def __init__(self, nth: int, files: tuple[str, ...] = LIBRARY_FILES) -> None:
        self.nth = nth
        self.files = files
        self.seen = 0
        self.fired = False
        self.where = ""

    def __call__(self, frame: FrameType, event: str, argument: object) -> Any:
        filename = frame.f_code.co_filename
        if self.fired or not any(
            filename.startswith(place) or place in filename for place in self.files
        ):
            return None
        if event == "line" and frame.f_lasti not in _with_exit_offsets(frame.f_code):
            self.seen += 1
            if self.seen == self.nth:
                self.fired = True
                self.where = f"{Path(filename).name}:{frame.f_lineno}"
                raise KeyboardInterrupt
        return self


def line_events_of(call: Callable[[], object], files: tuple[str, ...] = LIBRARY_FILES) -> int:
    """How many interruptible line events ``call`` passes through."""
    counter = Interrupter(0, files)
    sys.settrace(counter)
    try:
        call()
    finally:
        sys.settrace(None)
    return counter.seen


def interrupted(
    call: Callable[[], object], nth: int, files: tuple[str, ...] = LIBRARY_FILES
) -> Interrupter:
    """Run ``call`` with a KeyboardInterrupt at its ``nth`` interruptible line event; the
    interrupter says whether and where it fired. Raises AssertionError when the interrupt was
    swallowed (fired, yet ``call`` returned normally)."""
    interrupter = Interrupter(nth, files)
    sys.settrace(interrupter)
    try:
        call()
    except KeyboardInterrupt:
        return interrupter
    finally:
        sys.settrace(None)
    assert not interrupter.fired, f"an interrupt at {interrupter.where} was swallowed"
    return interrupter
