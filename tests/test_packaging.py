"""The install files agree with each other and with the course machines' torch pair."""

import re
import subprocess
import sys

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TORCH_PAIR = {"torch": "==2.14.1", "torchvision": "==0.29.1"}  # shared/ENVIRONMENT.md


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


def _constraints(root):
    lines = (root / "constraints.txt").read_text().splitlines()
    return dict(_split(line) for line in lines if line.strip() and not line.startswith("#"))


def test_environment_is_pyproject_with_the_pinned_pair(root):
    assert _environment(root) == _pyproject(root) | _constraints(root)


def test_torch_pair_is_pinned_where_the_repository_installs_itself(root):
    from packaging.specifiers import SpecifierSet

    assert _constraints(root) == TORCH_PAIR
    planned = subprocess.run(["make", "-n", "-B", "setup"], cwd=root, capture_output=True, text=True, check=True).stdout
    installs = [line for line in planned.splitlines() if "pip install" in line]
    assert len(installs) == 2 and all("-c constraints.txt" in line for line in installs)
    deps = _pyproject(root)
    for name, pin in TORCH_PAIR.items():  # the package states a range that admits the pair, not the pair
        assert not deps[name].startswith("=="), name
        assert pin[2:] in SpecifierSet(deps[name]), name


def test_console_script_points_at_main(root):
    meta = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert meta["scripts"]["tcic"] == "tcic_lib.cli:main"


def test_ci_runs_the_readme_test_command(root):
    assert "make test" in (root / ".ci" / "run").read_text()
    assert "make test" in (root / "README.md").read_text()
