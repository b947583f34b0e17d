"""The docs stand alone: every relative link and every repository path they name resolves.

Checked in README.md, docs/ and helm/ (values, templates, the chart's README):
- markdown links `[text](target)` that are not URLs: the target exists (relative to the file),
  and an `#anchor` into a markdown file names one of its headings;
- repository paths: a token that starts with a top-level directory of this repository
  (`docs/...`, `./helm/...`, `tests/...`) exists, and one that starts with `../` exists here;
- bare markdown file names (`DESIGN.md`): exist beside the file, at the root or in docs/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEXT_SUFFIXES = {".md", ".yaml", ".yml", ".tpl", ".txt", ".json"}
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)
BARE_MARKDOWN = re.compile(r"(?<![\w./-])([\w-]+\.md)\b")
PLACEHOLDER = set("*<{$")


def documents() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*"))]
    files += sorted(path for path in (ROOT / "helm").rglob("*") if "files" not in path.parts)
    return [path for path in files if path.is_file() and path.suffix in TEXT_SUFFIXES]


def top_level_dirs(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in {".git", ".venv"})


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(markdown: Path) -> set[str]:
    return {slug(title) for title in HEADING.findall(markdown.read_text("utf-8"))}


def broken_links(path: Path, text: str) -> list[str]:
    problems = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            problems.append(f"link {target}: {file_part} does not exist")
        elif not resolved.is_relative_to(ROOT):
            problems.append(f"link {target}: outside the repository")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"link {target}: no heading #{anchor} in {resolved.name}")
    return problems


def broken_paths(path: Path, text: str, root: Path = ROOT) -> list[str]:
    names = "|".join(re.escape(name) for name in top_level_dirs(root))
    token = re.compile(rf"(?<![\w./:@-])(\.\.?/[\w./-]+|(?:{names})/[\w./-]*)")
    problems = []
    for match in token.finditer(text):
        following = text[match.end() : match.end() + 1]
        if following in PLACEHOLDER:
            continue
        name = match.group(1).rstrip(".,:;")
        if name.startswith("./") and name[2:].split("/")[0] not in top_level_dirs(root):
            continue  # a path in the reader's working directory, e.g. ./driftmon-data
        base = path.parent if name.startswith("../") else root
        resolved = (base / name).resolve()
        if not resolved.is_relative_to(root):
            problems.append(f"{name}: outside the repository")
        elif not resolved.exists():
            problems.append(f"{name}: no such file in the repository")
    for name in BARE_MARKDOWN.findall(text):
        if not any((base / name).exists() for base in (path.parent, root, root / "docs")):
            problems.append(f"{name}: no such file in the repository")
    return problems


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_reference_resolves_inside_the_repository(path: Path) -> None:
    """Relative links, anchors and named repository paths of each document exist here."""
    text = path.read_text("utf-8")
    problems = broken_links(path, text) + broken_paths(path, text)
    assert problems == [], f"{path.relative_to(ROOT)}: " + "; ".join(problems)


def test_the_checker_catches_references_outside_the_repository() -> None:
    """A pointer at a file that is not here, or at a sibling checkout, is reported."""
    doc = ROOT / "docs" / "deploy.md"
    text = (
        "keys are in DESIGN.md; figures from `../shared/ANCHORS.md`; see [x](../../elsewhere.md), "
        "[y](ocr-engine.md#no-such-heading), `docs/missing.md`; fine: [z](gpu.md), `helm/driftmon`, "
        "`rules/*.yaml`, https://example.com/docs/x.md, registry.example.com/driftmon:0.1.0"
    )
    problems = broken_links(doc, text) + broken_paths(doc, text)
    for fragment in ("DESIGN.md", "../shared/ANCHORS.md", "elsewhere.md", "#no-such-heading", "docs/missing"):
        assert any(fragment in problem for problem in problems), (fragment, problems)
    for fine in ("gpu.md", "helm/driftmon", "rules/", "example.com"):
        assert not any(fine in problem for problem in problems), (fine, problems)


def sources() -> list[Path]:
    roots = ("driftmon", "bench", "scripts", "client", "tests")
    files = [p for r in roots for p in sorted((ROOT / r).rglob("*")) if p.suffix in {".py", ".sh"}]
    return [p for p in files if p.is_file() and p != Path(__file__).resolve()]


def missing_documents(path: Path, text: str) -> list[str]:
    """Markdown files a source's comments name that are not here, and sibling checkouts."""
    problems = [
        f"{name}: no such file"
        for name in BARE_MARKDOWN.findall(text)
        if not any((base / name).exists() for base in (path.parent, ROOT, ROOT / "docs"))
    ]
    return problems + [f"{hit}: outside the repository" for hit in re.findall(r"\.\./shared/\S*", text)]


def test_sources_name_no_document_outside_the_repository() -> None:
    """Docstrings and comments of the code point only at documents the repository has."""
    problems = {
        str(path.relative_to(ROOT)): found
        for path in sources()
        if (found := missing_documents(path, path.read_text("utf-8")))
    }
    assert problems == {}
