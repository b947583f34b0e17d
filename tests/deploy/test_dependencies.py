"""Every declared runtime dependency is imported by driftmon, or is allow-listed with a reason.

Distributions map to their import names through `importlib.metadata.packages_distributions()`;
imports are read from driftmon/'s source with `ast` (absolute imports, top-level module).
"""

from __future__ import annotations

import ast
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

ROOT = Path(__file__).resolve().parents[2]

# Needed at run time although driftmon's own code imports nothing of them; one reason each.
USED_WITHOUT_IMPORT: dict[str, str] = {
    "torchvision": "EasyOCR imports it; pinned here to the build that matches the pinned torch",
    "python-multipart": "Starlette's request.form() imports it to parse multipart POST /v1/samples",
    "onnxruntime": "rapidocr's inference backend, which rapidocr itself does not declare",
}


def declared_dependencies() -> list[NormalizedName]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    return [canonicalize_name(Requirement(line).name) for line in project["dependencies"]]


def imported_modules(package: Path) -> set[str]:
    """Top-level names of the absolute imports anywhere under `package`."""
    modules: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.partition(".")[0])
    return modules


def import_names() -> dict[NormalizedName, set[str]]:
    """Distribution (canonical name) -> the top-level modules it installs."""
    names: dict[NormalizedName, set[str]] = {}
    for module, distributions in packages_distributions().items():
        for distribution in distributions:
            names.setdefault(canonicalize_name(distribution), set()).add(module)
    return names


def unimported(declared: list[NormalizedName], modules: set[str]) -> list[NormalizedName]:
    provided = import_names()
    return [name for name in declared if not provided.get(name, set()) & modules]


def test_every_declared_dependency_is_imported_or_allow_listed() -> None:
    """A dependency nothing imports is dropped, or allow-listed here with why it is needed."""
    unused = unimported(declared_dependencies(), imported_modules(ROOT / "driftmon"))
    unexplained = [name for name in unused if name not in USED_WITHOUT_IMPORT]
    assert unexplained == [], f"declared in pyproject.toml but imported nowhere in driftmon/: {unexplained}"


def test_allow_list_names_only_declared_unimported_dependencies_with_a_reason() -> None:
    """No stale entry: each is declared, really not imported, and says why in one line."""
    declared = declared_dependencies()
    unused = set(unimported(declared, imported_modules(ROOT / "driftmon")))
    for name, reason in USED_WITHOUT_IMPORT.items():
        assert name in declared, f"{name} is allow-listed but not declared"
        assert name in unused, f"{name} is imported by driftmon/: drop it from the allow-list"
        assert reason.strip() and "\n" not in reason


def test_the_check_finds_a_dependency_nothing_imports(tmp_path: Path) -> None:
    """The mapping sees through distribution names (pyyaml -> yaml) and flags the unused one."""
    (tmp_path / "module.py").write_text("import yaml\nfrom PIL import Image\n", "utf-8")
    declared = [canonicalize_name(name) for name in ("PyYAML", "pillow", "pydantic-settings")]
    assert unimported(declared, imported_modules(tmp_path)) == ["pydantic-settings"]
