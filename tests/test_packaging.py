"""The install files agree with each other and with the course machines' torch pair."""

import re
import sys

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TORCH_PAIR = {"torch": "==2.14.1", "torchvision": "==0.29.1"}


def _split(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def _pyproject(root):
    meta = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    reqs = meta["dependencies"] + meta["optional-dependencies"]["dev"]
    return dict(map(_split, reqs))


def _environment(root):
    env = yaml.safe_load((root / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return dict(_split(r) for r in pip if not r.startswith("-e"))


def test_environment_matches_pyproject(root):
    assert _environment(root) == _pyproject(root)


def test_torch_pair_is_pinned_everywhere(root):
    deps = _pyproject(root)
    for name, pin in TORCH_PAIR.items():
        assert deps[name] == pin, name
    makefile = (root / "Makefile").read_text()
    assert "TORCH_PINS := torch==2.14.1 torchvision==0.29.1" in makefile


def test_console_script_points_at_main(root):
    meta = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert meta["scripts"]["tcic"] == "tcic_lib.cli:main"


def test_ci_runs_the_readme_test_command(root):
    assert "make test" in (root / ".ci" / "run").read_text()
    assert "make test" in (root / "README.md").read_text()
