"""The Python test tree stays laid out as its READMEs say (issue 11): every file in
tests/e2e and tests/support is listed in its README and every file listed exists, no
test module imports another test module, nothing edits sys.path to find a helper, and
conftest.py holds the one generic `daemon` fixture. Plain pytest, no root needed."""

import ast
import importlib.util
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
E2E = REPO / "tests/e2e"
SUPPORT = REPO / "tests/support"

# Files and directories named in a README: `name.py`, `credentials/relay.py`.
LISTED = re.compile(r"`([\w./-]+\.(?:py|c|ini|sh))`")


def files_under(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.name != "README.md")


def listed_in(readme):
    return set(LISTED.findall(readme.read_text(encoding="utf-8")))


@pytest.mark.parametrize("root", [E2E, SUPPORT / "workbench_testkit"], ids=["e2e", "support"])
def test_readme_lists_every_file(root):
    readme = root / "README.md" if (root / "README.md").exists() else root.parent / "README.md"
    listed = listed_in(readme)
    files = [f for f in files_under(root) if f != "__init__.py"]
    missing = [f for f in files if f not in listed]
    assert not missing, f"{readme.relative_to(REPO)} does not list {missing}"


def test_e2e_readme_lists_no_file_that_is_gone():
    """Every file the e2e README names as its own (a row of its tables) exists."""
    rows = re.findall(r"^\| `([\w./-]+)` \|", (E2E / "README.md").read_text(encoding="utf-8"),
                      re.M)
    assert rows, "no table rows found in tests/e2e/README.md"
    gone = [r for r in rows if not (E2E / r).exists()]
    assert not gone, f"tests/e2e/README.md lists files that do not exist: {gone}"


def python_files():
    for root in (E2E, SUPPORT, REPO / "scripts/lib"):
        yield from sorted(root.rglob("*.py"))


def imported_modules(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


@pytest.mark.parametrize("path", sorted(E2E.glob("*.py")), ids=lambda p: p.name)
def test_no_test_module_imports_another(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = [m for m in imported_modules(tree) if m.split(".")[0].startswith("test_")]
    assert not bad, f"{path.name} imports test modules {bad}: move what they share to a helper"


@pytest.mark.parametrize("path", list(python_files()), ids=lambda p: str(p.relative_to(REPO)))
def test_every_import_resolves(path):
    """Also the imports inside functions, which only run when that test does: a module
    of the standard library or an installed package, one beside the importer (tests/e2e
    or scripts/lib), in tests/fixture, or in workbench_testkit (both on pytest.ini's
    pythonpath, as for the e2e tests and the scripts)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    missing = []
    for name in imported_modules(tree):
        top = name.split(".")[0]
        if (path.parent / f"{top}.py").exists() or (REPO / "tests/fixture" / f"{top}.py").exists():
            continue
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(name)
    assert not missing, f"{path.relative_to(REPO)} imports modules that do not exist: {missing}"


@pytest.mark.parametrize("path", list(python_files()), ids=lambda p: str(p.relative_to(REPO)))
def test_no_sys_path_edits(path):
    """Helpers are found through pytest.ini's pythonpath and scripts/lib/pythonpath.sh."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "path" and \
                isinstance(node.value, ast.Name) and node.value.id == "sys":
            pytest.fail(f"{path.relative_to(REPO)}:{node.lineno} uses sys.path")


def fixture_functions(path, name):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name
            and any("fixture" in ast.unparse(d) for d in n.decorator_list)]


def test_one_generic_daemon_fixture():
    """conftest.py defines `daemon` once; a module's override starts a daemon of its own
    (another server, other settings or a fresh one), never the generic one again."""
    assert len(fixture_functions(E2E / "conftest.py", "daemon")) == 1
    generic = [ast.unparse(s) for s in fixture_functions(E2E / "conftest.py", "daemon")[0].body
               if not isinstance(s, ast.Expr)]  # without the docstring
    copies = [p.name for p in sorted(E2E.glob("test_*.py"))
              for f in fixture_functions(p, "daemon")
              if [ast.unparse(s) for s in f.body if not isinstance(s, ast.Expr)] == generic]
    assert not copies, f"copies of conftest.py's daemon fixture in {copies}"
