"""A model is a model whatever its base and wherever it sits; CodeWeaver's names and hook.

NamedTuples, tuple and list subclasses with ``_telemetry_keys``, the ``_telemetry_handler``
hook, the seed's ``DataclassSerializationMixin`` and ``BasedModel``.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pydantic
import pytest
from returns.pipeline import is_successful

from codeweaver_telemetry.core import (
    AnonymityConversion,
    DataclassSerializationMixin,
    FilteredKey,
    JSONObject,
    PrivacyPolicy,
    TelemetryKeys,
    TelemetrySerializable,
    serialize_for_telemetry,
)
from codeweaver_telemetry.core.introspection import (
    ModelRejected,
    declared_keys,
    is_model,
    is_model_class,
    model_fields,
)

C = AnonymityConversion
POLICY = PrivacyPolicy(hash_key=b"k" * 32)

# Label-shaped secrets: nothing in the wire grammar or the leak guard stops them, so only the
# model's declarations can.
FORBIDDEN_SECRET = "hunter2forbidden"
HASHED_SECRET = "acme-payments-internal"


def sent(value: object, policy: PrivacyPolicy = POLICY) -> JSONObject:
    result = serialize_for_telemetry(value, policy)
    assert is_successful(result), result
    return result.unwrap()


def rejected(value: object) -> str:
    result = serialize_for_telemetry(value, POLICY)
    assert not is_successful(result), result
    return str(result.failure())


# --- NamedTuples --------------------------------------------------------------------------


class Located(NamedTuple):
    repository: str
    token: str
    hits: int

    def _telemetry_keys(self) -> TelemetryKeys:
        return {FilteredKey("repository"): C.HASH, FilteredKey("token"): C.FORBIDDEN}


def located() -> Located:
    return Located(HASHED_SECRET, FORBIDDEN_SECRET, 3)


class Misspelt(NamedTuple):
    token: str

    def _telemetry_keys(self) -> TelemetryKeys:
        return {FilteredKey("tokne"): C.FORBIDDEN}


def assert_located_is_anonymized(output: object) -> None:
    """``output`` holds Located's fields as an object, its secrets absent."""
    text = json.dumps(output)
    assert FORBIDDEN_SECRET not in text
    assert HASHED_SECRET not in text
    assert isinstance(output, dict)
    assert set(output) == {"repository", "hits"}
    assert output["hits"] == 3
    assert isinstance(output["repository"], str)


def test_a_named_tuple_with_declarations_is_a_model() -> None:
    assert is_model(located())
    assert is_model_class(Located)
    assert list(model_fields(located())) == [
        ("repository", HASHED_SECRET),
        ("token", FORBIDDEN_SECRET),
        ("hits", 3),
    ]


def test_a_named_tuple_model_is_serialized_under_its_declarations() -> None:
    payload = sent(located())
    payload.pop("privacy_filter")
    assert_located_is_anonymized(payload)


def test_a_named_tuple_declaration_naming_a_missing_field_rejects_the_model() -> None:
    with pytest.raises(ModelRejected, match="'tokne', which is not a field of Misspelt"):
        declared_keys(Misspelt("x"))
    assert "'tokne'" in rejected(Misspelt(FORBIDDEN_SECRET))


@dataclasses.dataclass
class Holder:
    inner: Located
    many: list[Located]
    pair: tuple[int, Located]
    by_name: dict[str, Located]


# These need the serializer's walk to ask is_model() before it treats a value as a plain tuple.
@pytest.mark.parametrize(
    ("container", "read"),
    [
        (lambda: Holder(located(), [], (0, located()), {}), lambda out: out["inner"]),
        (lambda: Holder(located(), [located()], (0, located()), {}), lambda out: out["many"][0]),
        (lambda: Holder(located(), [], (0, located()), {}), lambda out: out["pair"][1]),
        (
            lambda: Holder(located(), [], (0, located()), {"a": located()}),
            lambda out: out["by_name"]["a"],
        ),
        (lambda: {"k": located()}, lambda out: out["k"]),
        (lambda: {"k": [located()]}, lambda out: out["k"][0]),
    ],
    ids=["in-dataclass", "in-list", "in-tuple", "in-dict-field", "in-dict", "in-dict-list"],
)
def test_a_nested_named_tuple_model_is_walked_under_its_declarations(
    container: Callable[[], object], read: Callable[[Any], object]
) -> None:
    payload = sent(container())
    assert FORBIDDEN_SECRET not in json.dumps(payload)
    assert HASHED_SECRET not in json.dumps(payload)
    assert_located_is_anonymized(read(payload))


def test_a_nested_named_tuple_with_a_misspelt_declaration_is_left_out() -> None:
    payload = sent({"bad": Misspelt(FORBIDDEN_SECRET), "n": 1})
    assert FORBIDDEN_SECRET not in json.dumps(payload)
    assert payload["n"] == 1


class Pair(tuple[str, str]):
    """A tuple subclass model: its items are named by their index."""

    def _telemetry_keys(self) -> TelemetryKeys:
        return {FilteredKey("1"): C.FORBIDDEN}


class Secrets(list[str]):
    def _telemetry_keys(self) -> TelemetryKeys:
        return {FilteredKey("0"): C.TEXT_COUNT, FilteredKey("7"): C.FORBIDDEN}


class NamedWrongly(list[str]):
    def _telemetry_keys(self) -> TelemetryKeys:
        return {FilteredKey("first"): C.FORBIDDEN}


def test_tuple_and_list_subclass_models_are_read_item_by_item() -> None:
    assert list(model_fields(Pair(("a", "b")))) == [("0", "a"), ("1", "b")]
    payload = sent(Pair(("plain", FORBIDDEN_SECRET)))
    assert payload["0"] == "plain"
    assert "1" not in payload
    payload = sent(Secrets([FORBIDDEN_SECRET]))
    assert payload["0"] == len(FORBIDDEN_SECRET)


def test_a_sequence_model_declaration_must_name_an_index() -> None:
    with pytest.raises(ModelRejected, match="'first', which is not an index of NamedWrongly"):
        declared_keys(NamedWrongly(["x"]))
    assert "'first'" in rejected(NamedWrongly([FORBIDDEN_SECRET]))


# --- CodeWeaver's _telemetry_handler hook ---------------------------------------------------


@dataclasses.dataclass
class ServerSettings:
    transport: str
    middleware: list[str]
    secret: str
    seen: list[dict[str, object]] = dataclasses.field(default_factory=list)

    def _telemetry_keys(self) -> TelemetryKeys:
        return {FilteredKey("secret"): C.FORBIDDEN, FilteredKey("seen"): C.FORBIDDEN}

    def _telemetry_handler(self, serialized_self: dict[str, Any], /) -> dict[str, Any]:
        self.seen.append(dict(serialized_self))
        return serialized_self | {"middleware": self.middleware != ["default"]}


def test_the_handler_gives_the_model_its_own_telemetry_mapping() -> None:
    settings = ServerSettings("stdio", ["auth-middleware-x"], FORBIDDEN_SECRET)
    payload = sent(settings)
    assert payload["middleware"] is True  # not the list: the handler's mapping is sent
    assert payload["transport"] == "stdio"
    assert "auth-middleware-x" not in json.dumps(payload)
    assert FORBIDDEN_SECRET not in json.dumps(payload)


def test_the_handler_does_not_see_forbidden_fields() -> None:
    settings = ServerSettings("stdio", ["default"], FORBIDDEN_SECRET)
    list(model_fields(settings))
    assert settings.seen == [{"transport": "stdio", "middleware": ["default"]}]


@dataclasses.dataclass
class Rewritten:
    repository: str
    note: str

    def _telemetry_keys(self) -> TelemetryKeys:
        return {FilteredKey("repository"): C.HASH}

    def _telemetry_handler(self, serialized_self: dict[str, Any], /) -> dict[str, Any]:
        return {"repository": HASHED_SECRET, "note": "/home/bob/My Projects/app"}


def test_what_the_handler_returns_still_goes_through_declarations_and_the_guard() -> None:
    payload = sent(Rewritten("x", "y"))
    text = json.dumps(payload)
    assert HASHED_SECRET not in text  # declared HASH: hashed, whoever put it there
    assert "bob" not in text
    assert "My Projects" not in text
    assert isinstance(payload["repository"], str)


@dataclasses.dataclass
class ByFunction:
    tags: list[str]
    size: int
    _telemetry_handler = {"tags": len, "size": lambda size: size // 10 * 10}  # noqa: RUF012


@dataclasses.dataclass
class ReturnsFunctions:
    tags: list[str]

    def _telemetry_handler(self, serialized_self: dict[str, Any], /) -> dict[str, Any]:
        return {"tags": bool}


def test_a_handler_may_map_fields_to_functions() -> None:
    payload = sent(ByFunction(["billing", "payroll"], 1234))
    assert payload["tags"] == 2
    assert payload["size"] == 1230
    assert sent(ReturnsFunctions(["billing"]))["tags"] is True
    assert sent(ReturnsFunctions([]))["tags"] is False


@dataclasses.dataclass
class Hook:
    secret: str
    handler: Callable[[dict[str, Any]], object]

    def _telemetry_handler(self, serialized_self: dict[str, Any], /) -> object:
        return self.handler(serialized_self)


def _raises(_: dict[str, Any]) -> object:
    raise RuntimeError(FORBIDDEN_SECRET)


@pytest.mark.parametrize(
    ("handler", "reason"),
    [
        (_raises, "_telemetry_handler() raised RuntimeError"),
        (lambda fields: [("secret", 1)], "returned a list, not a mapping"),
        (lambda fields: None, "returned a NoneType, not a mapping"),
        (lambda fields: {"secrte": len}, "maps 'secrte' to a function"),
        (lambda fields: {"secret": _raises}, "function for 'secret' raised RuntimeError"),
        (lambda fields: {1: "x"}, "gave a int key"),
    ],
)
def test_a_failing_handler_rejects_the_whole_model(
    handler: Callable[[dict[str, Any]], object], reason: str
) -> None:
    model = Hook(FORBIDDEN_SECRET, handler)
    with pytest.raises(ModelRejected, match=reason.replace("(", r"\(").replace(")", r"\)")):
        list(model_fields(model))
    assert reason in rejected(model)
    assert FORBIDDEN_SECRET not in rejected(model)
    nested = sent({"model": model, "n": 1})
    assert "model" not in nested  # nothing of it is sent, the rest is
    assert nested["n"] == 1


class PydanticHooked(pydantic.BaseModel):
    run_args: dict[str, str]

    def _telemetry_handler(self, serialized_self: dict[str, Any], /) -> dict[str, Any]:
        return serialized_self | {"run_args": bool(self.run_args)}


def test_a_pydantic_model_handler_is_honoured() -> None:
    assert sent(PydanticHooked(run_args={"host": "db-prod-01"}))["run_args"] is True


# --- The seed's names -----------------------------------------------------------------------


def test_dataclass_serialization_mixin_is_the_mixin() -> None:
    assert DataclassSerializationMixin is TelemetrySerializable

    @dataclasses.dataclass
    class Chunk(DataclassSerializationMixin):
        path: str
        lines: int

        def _telemetry_keys(self) -> TelemetryKeys:
            return {FilteredKey("path"): C.FORBIDDEN}

    output = Chunk("/srv/app/billing.py", 12).serialize_for_telemetry(POLICY).unwrap()
    assert output["lines"] == 12
    assert "path" not in output


def test_based_model_is_a_pydantic_model_that_serializes_itself() -> None:
    from codeweaver_telemetry.core import BasedModel
    from codeweaver_telemetry.core.based_model import BasedModel as Direct

    assert BasedModel is Direct
    assert issubclass(BasedModel, pydantic.BaseModel)
    assert issubclass(BasedModel, TelemetrySerializable)

    class MyModel(BasedModel):
        public_data: str = "safe"
        sensitive_path: str = "/home/user/secret.py"

        def _telemetry_keys(self) -> TelemetryKeys:
            return {FilteredKey("sensitive_path"): C.HASH}

    output = MyModel().serialize_for_telemetry(POLICY).unwrap()
    assert output["public_data"] == "safe"
    assert "secret.py" not in json.dumps(output)
    assert isinstance(output["sensitive_path"], str)


def run_python(code: str, tmp_path: Path) -> str:
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    return completed.stdout


def test_the_core_imports_and_serializes_without_pydantic(tmp_path: Path) -> None:
    output = run_python(
        "import sys; sys.modules['pydantic'] = None\n"
        "from codeweaver_telemetry.core import *\n"
        "import codeweaver_telemetry.core as core, dataclasses\n"
        "assert all(getattr(core, name) is not None for name in core.__all__)\n"
        "@dataclasses.dataclass\n"
        "class M(DataclassSerializationMixin):\n"
        "    n: int\n"
        "print(M(3).serialize_for_telemetry().unwrap()['n'])\n"
        "try:\n"
        "    from codeweaver_telemetry.core import BasedModel\n"
        "except ImportError:\n"
        "    print('no BasedModel')\n",
        tmp_path,
    )
    assert output.split("\n")[:2] == ["3", "no BasedModel"]


def test_importing_the_core_does_not_import_pydantic(tmp_path: Path) -> None:
    loaded = run_python(
        "import sys\nfrom codeweaver_telemetry.core import *\n"
        "print('pydantic' in sys.modules, 'BasedModel' in dir())",
        tmp_path,
    )
    assert loaded.split() == ["False", "False"]


@pytest.mark.parametrize("name", ["capture_session_event", "capture_search_event"])
def test_the_module_functions_take_exactly_the_client_methods_parameters(name: str) -> None:
    from codeweaver_telemetry.adapters import TelemetryClient, events

    method = inspect.signature(getattr(TelemetryClient, name))
    function = inspect.signature(getattr(events, name))
    assert next(iter(method.parameters)) == "self"
    assert function == method.replace(parameters=list(method.parameters.values())[1:])
