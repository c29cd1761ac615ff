"""Repository-level checks: migrations match the models, and the code is lint clean."""

import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_migrations_match_the_models():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    assert "No changes detected" in out.getvalue()


def test_migrations_are_reversible(django_db_blocker):
    """Every migration of our apps can be unapplied (RunPython steps carry a reverse)."""
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None, ignore_no_migrations=True)
    for (app_label, name), migration in loader.disk_migrations.items():
        if app_label not in {"core", "notifications", "providers"}:
            continue
        for operation in migration.operations:
            assert operation.reversible, f"{app_label}.{name}: {type(operation).__name__} cannot be reversed"


def test_ruff_is_clean():
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run([str(ruff), "check", "--no-cache", str(ROOT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme
    assert "\nmake test\n" in ci


def test_every_environment_variable_the_settings_read_is_documented():
    settings_source = (ROOT / "config" / "settings" / "base.py").read_text()
    readme = (ROOT / "README.md").read_text()
    variables = set(re.findall(r'env_(?:str|int|bool|list)\("([A-Z0-9_]+)"', settings_source))
    assert len(variables) > 20
    assert sorted(name for name in variables if name not in readme) == []
