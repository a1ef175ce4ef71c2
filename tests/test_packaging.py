"""What installing and importing the core costs a host: its modules, its dependencies, its names."""

from __future__ import annotations

import doctest
import importlib
import json
import pathlib
import subprocess
import sys
import zipfile

import pytest

import codeweaver_telemetry.core

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORE_MODULES = sorted(
    f"codeweaver_telemetry.core.{path.stem}"
    for path in (ROOT / "core").glob("*.py")
    if path.stem != "__init__"
)


def run_python(code: str, tmp_path: pathlib.Path) -> str:
    # From an empty directory, so that the repository's own folders are not importable.
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    return completed.stdout


def test_importing_the_core_imports_no_network_or_optional_package(tmp_path: pathlib.Path) -> None:
    # Every public name, so that each lazily loaded module is loaded too.
    loaded = json.loads(
        run_python(
            "import json, sys; from codeweaver_telemetry.core import *; "
            "import codeweaver_telemetry.core as core; "
            "assert all(getattr(core, name) is not None for name in core.__all__); "
            "assert 'codeweaver_telemetry.core.search_event' in sys.modules; "
            "print(json.dumps(sorted(sys.modules)))",
            tmp_path,
        )
    )
    forbidden = {
        "posthog",
        "requests",
        "urllib3",
        "pydantic",
        "hypothesis",
        "attrs",
        "socket",
        "platformdirs",
    }
    assert forbidden.isdisjoint(loaded)
    assert forbidden.isdisjoint(name.split(".")[0] for name in loaded)


def test_no_top_level_core_or_adapters_module_is_installed(tmp_path: pathlib.Path) -> None:
    found = run_python(
        "import importlib.util as u; print(u.find_spec('core'), u.find_spec('adapters'))", tmp_path
    )
    assert found.split() == ["None", "None"]


@pytest.mark.slow
def test_the_wheel_installs_only_under_codeweaver_telemetry(tmp_path: pathlib.Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    packages = {
        name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")
    }
    assert packages == {"codeweaver_telemetry"}
    assert "codeweaver_telemetry/core/py.typed" in names
    assert "codeweaver_telemetry/core/serializer.py" in names


def test_every_public_name_is_importable() -> None:
    for name in codeweaver_telemetry.core.__all__:
        assert getattr(codeweaver_telemetry.core, name) is not None


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        codeweaver_telemetry.core.Nope  # noqa: B018


@pytest.mark.parametrize("module_name", CORE_MODULES)
def test_documentation_examples_run(module_name: str) -> None:
    module = importlib.import_module(module_name)
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failures == 0


def test_the_readme_examples_run() -> None:
    failures, tried = doctest.testfile(str(ROOT / "README.md"), module_relative=False)
    assert tried > 0
    assert failures == 0


def test_the_ci_script_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [line for line in ci_lines if "pytest" in line]
    assert len(commands) == 1
    assert f"\n{commands[0]}\n" in readme


@pytest.mark.slow
def test_the_benchmark_suite_runs() -> None:
    output = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "benchmarks" / "run_all.py"), "--quick"],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    ).stdout
    for row in (
        "SearchEvent build + json",
        "import codeweaver_telemetry.core",
        "capture() median",
        "capture() in one process",
        "CPU per event",
        "flag lookup, silent host, repeated",
        "memory growth",
        "host set-up",
    ):
        assert row in output


def test_the_readme_documents_every_setting() -> None:
    from codeweaver_telemetry.core.settings import ENV_PREFIX, KEYS

    readme = (ROOT / "README.md").read_text()
    for key in KEYS:
        assert f"`{ENV_PREFIX}{key.upper()}`" in readme
        assert f"`{key}`" in readme


@pytest.mark.parametrize("package", ["codeweaver_telemetry.core", "codeweaver_telemetry.adapters"])
def test_the_lazily_loaded_names_are_exactly_the_public_ones(
    package: str, tmp_path: pathlib.Path
) -> None:
    # Before any is used, dir() lists the lazy names that are not yet module globals.
    lazy, public = json.loads(
        run_python(
            f"import json, importlib; m = importlib.import_module({package!r}); "
            "print(json.dumps([sorted(set(dir(m)) - set(vars(m))), sorted(m.__all__)]))",
            tmp_path,
        )
    )
    assert lazy == [name for name in public if name != "__version__"]


def test_the_readme_python_examples_compile() -> None:
    from markdown_it import MarkdownIt

    readme = (ROOT / "README.md").read_text()
    blocks = [
        token.content
        for token in MarkdownIt("commonmark").parse(readme)
        if token.type == "fence" and token.info.strip() == "python"
    ]
    assert len(blocks) > 5
    for block in blocks:
        compile(block, "README.md", "exec")
