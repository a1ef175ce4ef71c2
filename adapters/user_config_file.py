"""Writing the user's own settings (``enable``, ``disable``) into their configuration file.

Only the ``[telemetry]`` keys being set change: every other table, key and comment of an
existing file is kept as it was. The edit is checked by parsing the result and comparing it
with the document it should be; a file this cannot edit safely is left alone, with a message
saying what to write by hand. The file is written whole and moved into place (mode 0600, in a
directory created with mode 0700).
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping
from typing import Final, NamedTuple

from returns.result import Failure, Result, Success

from codeweaver_telemetry.core.app import App
from codeweaver_telemetry.core.settings import ALIASES

from .config import MAX_CONFIG_BYTES, user_config_file
from .files import read_regular_file, write_private_file

_TABLE_HEADER: Final = re.compile(r"\s*\[\s*telemetry\s*\]\s*(#.*)?")
_ANY_HEADER: Final = re.compile(r"\s*\[")


class Change(NamedTuple):
    """One key's value in the user's file before and after (None: it was not set)."""

    key: str
    before: object
    after: bool

    def __str__(self) -> str:
        after = _toml_bool(self.after)
        if self.before == self.after:
            return f"{self.key}: already {after}"
        before = "unset" if self.before is None else _toml_bool(self.before)
        return f"{self.key}: {before} -> {after}"


class Edit(NamedTuple):
    """A file's new text, and its ``[telemetry]`` values before (aliases as their keys)."""

    text: str
    before: Mapping[str, object]


class Written(NamedTuple):
    """What was written where."""

    path: str
    changes: tuple[Change, ...]


def write_user_settings(
    app: App, values: Mapping[str, bool], environment: Mapping[str, str] = os.environ
) -> Result[Written, str]:
    """Set ``values`` in the user's ``[telemetry]`` table; the error says what to do instead."""
    path = user_config_file(app, environment)
    if path is None:
        return Failure(
            "there is no home directory to keep a configuration file in; set "
            f"{app.env_prefix}DISABLE_TELEMETRY instead"
        )
    target = os.path.realpath(path)  # a linked file (dotfiles) is edited where it lives
    try:
        text = read_regular_file(target, max_bytes=MAX_CONFIG_BYTES).content.decode("utf-8")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as error:
        return Failure(f"cannot read {path} ({_reason(error)}); fix or remove it, then retry")
    edit = edited_toml(text, values)
    if not isinstance(edit, Success):
        return Failure(f"{path}: {edit.failure()}")
    new = edit.unwrap()
    if new.text != text:
        try:
            write_private_file(target, new.text.encode("utf-8"))
        except OSError as error:
            return Failure(f"cannot write {path} ({_reason(error)})")
    changes = tuple(Change(key, new.before.get(key), value) for key, value in values.items())
    return Success(Written(path, changes))


def edited_toml(text: str, values: Mapping[str, bool]) -> Result[Edit, str]:
    """``text`` with ``values`` set in its ``[telemetry]`` table, or why it cannot be edited
    safely."""
    import tomllib  # noqa: PLC0415 - only when a command writes the file

    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        return Failure(f"not valid TOML ({error}); fix it first")
    except (RecursionError, ValueError) as error:  # nested too deep; an int of 5,000 digits
        return Failure(f"not a TOML file this can edit ({type(error).__name__}); fix it first")
    table = document.get("telemetry", {})
    if not isinstance(table, dict):
        return Failure("'telemetry' is not a table; fix it first")
    before = {ALIASES.get(key, key): value for key, value in table.items()}
    try:
        expected = copy.deepcopy(document)
    except RecursionError:
        return Failure("nested too deeply to edit safely; fix it first")
    expected_table = expected.setdefault("telemetry", {})
    for key in values:
        for name in _spellings(key):
            expected_table.pop(name, None)
    expected_table.update(values)
    new_text = _with_values(text, values)
    try:
        result = tomllib.loads(new_text)
        same = result == expected
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        same = False
    if not same:
        wanted = ", ".join(f"{key} = {_toml_bool(value)}" for key, value in values.items())
        return Failure(
            f"cannot edit it safely; set {wanted} in its telemetry table by hand (or, to turn "
            "telemetry off at once, set DO_NOT_TRACK=1 in your environment)"
        )
    return Success(Edit(new_text, before))


def _with_values(text: str, values: Mapping[str, bool]) -> str:
    """Line by line: each key's line in the ``[telemetry]`` table replaced (its other
    spellings removed), a missing key added at the table's end, a missing table appended."""
    lines = text.splitlines(keepends=True)
    start = next(
        (i for i, line in enumerate(lines) if _TABLE_HEADER.fullmatch(line.rstrip())), None
    )
    if start is None:
        prefix = text if not text or text.endswith("\n") else text + "\n"
        separator = "\n" if prefix.strip() else ""
        body = "".join(f"{key} = {_toml_bool(value)}\n" for key, value in values.items())
        return f"{prefix}{separator}[telemetry]\n{body}"
    end = next((i for i in range(start + 1, len(lines)) if _ANY_HEADER.match(lines[i])), len(lines))
    section = lines[start + 1 : end]
    for key, value in values.items():
        assignment = re.compile(
            r"\s*(?:" + "|".join(rf"{name}|\"{name}\"" for name in _spellings(key)) + r")\s*="
        )
        line = f"{key} = {_toml_bool(value)}\n"
        found = [i for i, text_line in enumerate(section) if assignment.match(text_line)]
        if found:
            section[found[0]] = line
            section = [text_line for i, text_line in enumerate(section) if i not in found[1:]]
        else:
            last = max((i for i, text_line in enumerate(section) if text_line.strip()), default=-1)
            if last >= 0 and not section[last].endswith("\n"):
                section[last] += "\n"
            section.insert(last + 1, line)
    return "".join([*lines[: start + 1], *section, *lines[end:]])


def _spellings(key: str) -> list[str]:
    return [key, *(alias for alias, name in ALIASES.items() if name == key)]


def _toml_bool(value: object) -> str:
    return "true" if value is True else "false" if value is False else repr(value)


def _reason(error: OSError | UnicodeDecodeError) -> str:
    return "not UTF-8 text" if isinstance(error, UnicodeDecodeError) else str(error.strerror)
