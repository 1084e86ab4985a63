"""The package layout is the architecture: the product (`loyalty`) never reaches into the tooling around it
(`loyalty_dev`), the independent witnesses stay independent, and no import loop is hidden in a function."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PLUGINS).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> Iterator[tuple[str, int]]:
    """Every module an import statement anywhere in the file names (top level, function bodies, TYPE_CHECKING),
    with its line; relative imports resolved against the file's package."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                # `from loyalty import ledger` names a module; `from loyalty.specs import WorkflowSpec` does not
                candidate = f"{module}.{alias.name}"
                yield (candidate if _is_module(candidate) else module), node.lineno


def _is_module(name: str) -> bool:
    path = PLUGINS.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def files(package: str) -> list[Path]:
    return sorted((PLUGINS / package).rglob("*.py"))


class TestDirection:
    def test_the_product_never_imports_the_dev_tooling(self) -> None:
        """Nothing under `loyalty` imports `loyalty_dev` (emulator, simulation and its truth, demo, local services),
        not even inside a function: a production deployment runs without it."""
        offenders = [
            f"{path.relative_to(PLUGINS)}:{line}: {name}"
            for path in files("loyalty")
            for name, line in imported_modules(path)
            if name == "loyalty_dev" or name.startswith("loyalty_dev.")
        ]
        assert offenders == []

    def test_the_simulation_reads_only_the_warehouse_module_of_the_product(self) -> None:
        """The synthetic retailer is a witness of the product: it may open the warehouse, nothing else of it."""
        offenders = [
            f"{path.relative_to(PLUGINS)}:{line}: {name}"
            for path in files("loyalty_dev/simulation")
            for name, line in imported_modules(path)
            if (name == "loyalty" or name.startswith("loyalty.")) and name not in {"loyalty.warehouse", "loyalty.paths"}
        ]
        assert offenders == []

    def test_the_emulator_imports_nothing_of_the_project_outside_itself(self) -> None:
        """The provider emulator is an independent witness of the channels, ledger and receiver: no module in it
        imports `loyalty` or another part of `loyalty_dev` (relative imports resolved, lazy ones included)."""
        offenders = [
            f"{path.relative_to(PLUGINS)}:{line}: {name}"
            for path in files("loyalty_dev/emulator")
            for name, line in imported_modules(path)
            if name.split(".")[0] in {"loyalty", "loyalty_dev"} and not name.startswith("loyalty_dev.emulator")
        ]
        assert offenders == []

    def test_the_check_sees_imports_inside_functions(self, tmp_path: Path) -> None:
        """The walker finds a lazy import in a function body and resolves a relative one: the test above can fail."""
        path = PLUGINS / "loyalty" / "report" / "__init__.py"
        names = {name for name, _ in imported_modules(path)}
        assert "psycopg" in names
        nested = {name for name, _ in imported_modules(PLUGINS / "loyalty" / "cli.py")}
        assert "loyalty.specs.preview" in nested  # imported inside the preview command


# loyalty.specs: "imports point one way: steps ← journeys ← workflow ← loading" (its __init__), and the package
# itself (what the DAG factory imports at parse time) re-exports only those four, never templates, checks, seeds
# or preview, which pull in Jinja, the database and the dbt project.
SPEC_MODEL_LAYERS = {
    "loyalty.specs.steps": set(),
    "loyalty.specs.journeys": {"loyalty.specs.steps"},
    "loyalty.specs.workflow": {"loyalty.specs.steps", "loyalty.specs.journeys"},
    "loyalty.specs.loading": {"loyalty.specs.steps", "loyalty.specs.journeys", "loyalty.specs.workflow"},
    "loyalty.specs": {
        "loyalty.specs.steps",
        "loyalty.specs.journeys",
        "loyalty.specs.workflow",
        "loyalty.specs.loading",
    },
}


class TestSpecModel:
    @pytest.mark.parametrize("module", sorted(SPEC_MODEL_LAYERS))
    def test_the_spec_model_imports_one_way(self, module: str) -> None:
        """Each layer of the spec model imports only the layers below it, and no other `loyalty` module."""
        path = PLUGINS.joinpath(*module.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        imported = {name for name, _ in imported_modules(path) if name == "loyalty" or name.startswith("loyalty.")}
        assert imported - SPEC_MODEL_LAYERS[module] == set()

    def test_importing_the_spec_model_stays_light(self) -> None:
        """`import loyalty.specs` (the DAG factory's one product import at parse time) loads no Jinja, database
        driver, dbt or Airflow: the spec's readers that need them are imported from their own modules."""
        code = (
            "import sys, loyalty.specs; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in {'jinja2', 'psycopg', 'dbt', 'babel', 'airflow'}"
            " or m in {'loyalty.sql_files', 'loyalty.paths'} or m.startswith('loyalty.specs.') and m.split('.')[2]"
            " not in {'steps', 'journeys', 'workflow', 'loading'}))"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
        assert result.stdout.strip() == "[]"


def test_the_receiver_loads_no_data_stack() -> None:
    """The webhook receiver reads the app's event types from the loader's entities, not the loader: each worker
    process starts without pyarrow, pandas or numpy (loyalty.loader's exports are imported on first use)."""
    code = (
        "import sys, loyalty.webhooks.app; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'pyarrow', 'pandas', 'numpy', 'yaml'}"
        " or m in {'loyalty.loader.run', 'loyalty.loader.mapping'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"


def import_graph(package: str) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in files(package):
        source = module_name(path)
        targets = {name for name, _ in imported_modules(path) if name.startswith(f"{package}.") or name == package}
        graph[source] = {target for target in targets if target != source and _is_module(target)}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of modules, or None (iterative DFS colouring)."""
    state: dict[str, int] = {}
    for root in graph:
        if state.get(root):
            continue
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph.get(root, ()))))]
        path = [root]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state.get(child) == 1:
                return [*path[path.index(child) :], child]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(graph.get(child, ())))))
    return None


@pytest.mark.parametrize("package", ["loyalty", "loyalty_dev"])
def test_no_import_cycle_between_modules(package: str) -> None:
    """Module A imports B and B imports A nowhere, counting imports hidden in functions: a loop is a layout fault."""
    assert find_cycle(import_graph(package)) is None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
