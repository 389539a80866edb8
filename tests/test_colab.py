"""The Colab setup cell installs everything the course imports and leaves Colab's torch and numpy alone."""

import ast
import importlib.metadata as md
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tcic_lib.course.colab import colab_settings
from tests.conftest import ROOT

OPTIONAL = {"pyiqa": "used when installed (QualityMetrics reports it missing otherwise)"}


def _imported_modules() -> set[str]:
    """Top-level third-party modules imported anywhere in tcic_lib or the notebooks."""
    modules = set()
    for path in [*(ROOT / "tcic_lib").rglob("*.py"), *(ROOT / "notebooks").glob("[0-9][0-9]_*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and m != "tcic_lib" and m not in OPTIONAL}


def _requirements(dist: str, extras=()) -> list[Requirement]:
    """What `dist` declares for plain use, plus what the given extras add."""
    found = []
    for line in md.requires(dist) or []:
        requirement = Requirement(line)
        if requirement.marker is None or any(requirement.marker.evaluate({"extra": e}) for e in ("", *extras)):
            found.append(requirement)
    return found


def _runtime_requirements(dist: str) -> set[str]:
    """Distributions `dist` declares for plain use (no extras)."""
    return {canonicalize_name(r.name) for r in _requirements(dist)}


def _covered(settings) -> set[str]:
    return {canonicalize_name(n) for n in [*settings["no-deps"], *settings["preinstalled"], *settings["not-needed"]]}


def test_every_import_of_the_course_is_installed_or_preinstalled_in_colab():
    settings = colab_settings(ROOT)
    providers = md.packages_distributions()
    needed = {canonicalize_name(providers[m][0]) for m in _imported_modules()}
    assert needed - _covered(settings) == set()


def test_packages_installed_without_their_dependencies_find_them_in_colab():
    settings = colab_settings(ROOT)
    missing = {dist: _runtime_requirements(dist) - _covered(settings) for dist in settings["no-deps"]}
    assert {dist: needs for dist, needs in missing.items() if needs} == {}


def test_the_list_names_the_modules_its_packages_provide():
    providers = md.packages_distributions()
    for dist, module in colab_settings(ROOT)["no-deps"].items():
        assert canonicalize_name(dist) in {canonicalize_name(d) for d in providers.get(module, [])}, dist


def _closure(names) -> set[str]:
    """The installed distributions `names` need, transitively (what a Colab image holds with them)."""
    installed = {canonicalize_name(d.metadata["Name"]): d.metadata["Name"] for d in md.distributions()}
    todo, seen = [(canonicalize_name(n), ()) for n in names], set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen or name not in installed:
            continue
        seen.add((name, extras))
        todo += [(canonicalize_name(r.name), tuple(sorted(r.extras))) for r in _requirements(installed[name], extras)]
    return {name for name, _ in seen}


def _link_distributions(names: set[str], target: Path) -> None:
    """Symlink each distribution's top-level files and folders from this environment into `target`."""
    target.mkdir(parents=True)
    for dist in md.distributions():
        if canonicalize_name(dist.metadata["Name"]) not in names:
            continue
        for top in {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}:
            source = Path(dist.locate_file(top))
            if source.exists() and not (target / top).exists():
                (target / top).symlink_to(source)


@pytest.mark.slow
@pytest.mark.registry
def test_simulated_colab_run(tmp_path):
    """A fresh environment holding only Colab's preinstalled packages (numpy 2, its own torch) runs the
    setup cell's installer, imports every tcic_lib module and every package the course imports, and
    executes notebook 00; torch and numpy stay."""
    settings = colab_settings(ROOT)
    base, numpy2, env = tmp_path / "colab", tmp_path / "numpy2", tmp_path / "venv"
    _link_distributions(_closure(settings["preinstalled"]) - {"numpy"}, base)
    fetched = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(numpy2),
                              "numpy==2.0.2"], capture_output=True, text=True)
    if fetched.returncode:
        pytest.skip(f"the package registry is not reachable: {fetched.stderr.strip()[-200:]}")
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    site_dir = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                              capture_output=True, text=True, check=True).stdout.strip()
    (Path(site_dir) / "colab_image.pth").write_text(f"import site; site.addsitedir({str(numpy2)!r}); "
                                                     f"site.addsitedir({str(base)!r})\n")
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    versions = "import numpy, torch; print(numpy.__version__, numpy.__file__, torch.__version__, torch.__file__)"

    def run(*args, **kwargs):
        return subprocess.run([python, *args], capture_output=True, text=True, env=clean, **kwargs)

    before = run("-c", versions).stdout
    assert before.startswith("2.0.2 "), before
    installer = run("-m", "tcic_lib.course.colab", str(ROOT), "--no-weights", cwd=ROOT)  # no network in tests
    assert installer.returncode == 0, installer.stderr[-2000:]
    for dist in settings["no-deps"]:
        assert dist.replace("_", "-") in installer.stdout.replace("_", "-"), f"{dist} was not installed"
    assert run("-c", versions).stdout == before  # torch and numpy untouched, still Colab's
    modules = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "tcic_lib").rglob("*.py"))
    modules += sorted(_imported_modules())  # the lazy imports inside functions and notebooks too
    imported = run("-c", f"import importlib; [importlib.import_module(m) for m in {modules!r}]", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr[-2000:]
    executed = run("-m", "nbconvert",  # not `jupyter nbconvert`: that looks for a script on PATH
                   "--to", "notebook", "--execute", "--output-dir", str(tmp_path),
                   str(ROOT / "notebooks" / "00_setup.ipynb"), cwd=tmp_path)
    assert executed.returncode == 0, executed.stderr[-2000:]
