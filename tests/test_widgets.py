import pytest
import torch

from tcic_lib.tcic import TCIC
from tcic_lib.widgets import CaptionPlayground

from .conftest import FakeEncoder


@pytest.fixture
def playground():
    torch.manual_seed(0)
    model = TCIC(8, 12, hyper_stages=1, fusion="ssa", text_dim=8).eval()
    for fusion in model.g_s.fusions:  # move the zero-initialised caption layers, as training would
        torch.nn.init.normal_(fusion.gamma[-1].weight, std=0.5)
        torch.nn.init.normal_(fusion.beta[-1].weight, std=0.5)
    model.update(force=True)
    images = [torch.rand(3, 32, 32) for _ in range(2)]
    return CaptionPlayground({0.01: model}, FakeEncoder(), images, ["a red circle", "a blue square"])


def test_two_captions_one_bitstream(playground):
    a = playground.update(0, "a red striped circle", 0.01)
    b = playground.update(0, "a green dotted triangle", 0.01)
    assert a.bpp == b.bpp  # the same file
    assert not torch.allclose(a.x_hat, b.x_hat)
    assert a.mask is not None and a.mask.shape == (16, 16)
    assert playground.update(0, "   ", 0.01).caption is None  # blank: no caption


def test_bad_rate(playground):
    with pytest.raises(ValueError, match="no model"):
        playground.update(0, "x", 0.5)


def test_panel_controls_drive_the_decode(playground):
    """Typing a caption in the panel's text box redraws with that caption (the same call as update())."""
    panel = playground.panel()
    picker, text, rate, out = panel.children
    calls = []
    original = playground.update
    playground.update = lambda *args: calls.append(args) or original(*args)
    text.value = "a green dotted triangle"
    picker.value = 1  # a new image resets the caption to its own
    assert calls[0] == (0, "a green dotted triangle", 0.01)
    assert calls[-1] == (1, "a blue square", 0.01)
