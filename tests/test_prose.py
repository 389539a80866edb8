"""Numbers in a notebook's prose come from the run: no measurement is typed into markdown."""

import re

import jupytext
import pytest

from tests.conftest import ROOT

SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
# a number with a unit that only a measurement has (settings and definitions use px, %, steps)
MEASUREMENT = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?\s?-?(?:dB|bpp|bits?|seconds?|minutes?|MB|GB)\b")
NOT_PROSE = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`", re.S)  # formulas and code


def typed_measurements(markdown: str) -> list[str]:
    return MEASUREMENT.findall(NOT_PROSE.sub(" ", markdown))


def test_the_scan_finds_typed_measurements():
    assert typed_measurements("we measured 23.2 dB and 0.12 bpp, a 21-bit caption") == ["23.2 dB", "0.12 bpp", "21-bit"]
    assert typed_measurements("chance is 50 %; `psnr` in $10 \\log_{10}$ dB; 64 px scenes") == []


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_no_measurement_is_typed_into_markdown(source):
    found = [(cell.source.splitlines()[0][:60], hit) for cell in jupytext.read(source).cells
             if cell.cell_type == "markdown" for hit in typed_measurements(cell.source)]
    assert found == [], f"{source.name}: print these from a cell or assert them against the model card: {found}"
