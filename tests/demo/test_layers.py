"""Demo data is not domain code: it lives in apps/demo, the top layer, and no domain app leans on it."""

import ast
from pathlib import Path

APPS = Path(__file__).resolve().parents[2] / "apps"
DOMAIN_SOURCES = sorted(p for p in APPS.rglob("*.py") if p.relative_to(APPS).parts[0] != "demo")


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def test_no_domain_app_imports_the_demo_app():
    assert DOMAIN_SOURCES, "found no domain app sources to check"
    offenders = {str(p.relative_to(APPS)): sorted(m for m in _imported_modules(p)
                                                   if m == "apps.demo" or m.startswith("apps.demo."))
                 for p in DOMAIN_SOURCES}
    assert {path: mods for path, mods in offenders.items() if mods} == {}


def test_no_domain_app_keeps_demo_modules():
    assert [str(p.relative_to(APPS)) for p in DOMAIN_SOURCES if p.name.startswith("demo")] == []


def test_the_demo_commands_live_only_in_the_demo_app():
    homes = sorted((p.stem, p.relative_to(APPS).parts[0]) for p in APPS.glob("*/management/commands/*.py")
                   if p.stem in ("seed_demo", "run_portal"))
    assert homes == [("run_portal", "demo"), ("seed_demo", "demo")]
