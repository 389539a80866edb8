import pytest
import torch

from tcic_lib.adversarial import (GANConfig, TextConditionalDiscriminator, TrainingDiverged, finetune,
                                  matching_aware_gradient_penalty)
from tcic_lib.conditioning import CaptionConditioner, fit_text_mean
from tcic_lib.data import CaptionedShapes
from tcic_lib.losses import d_hinge_loss
from tcic_lib.checkpoint import load_checkpoint
from tcic_lib.tcic import TCIC

from .conftest import FakeEncoder


def test_mismatch_term_and_gradient_penalty_are_active():
    torch.manual_seed(0)
    d = TextConditionalDiscriminator(text_dim=8, channels=8)
    x, t = torch.rand(4, 3, 32, 32), torch.randn(4, 8)
    terms = d_hinge_loss(d(x, t), d(x.flip(-1), t), d(x, t.roll(1, 0)))
    assert terms["d_mismatch"] > 0 and terms["d_loss"] > 0
    gp = matching_aware_gradient_penalty(d, x, t)
    assert gp > 0
    (terms["d_loss"] + gp).backward()
    grads = [p.grad for p in d.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    d.zero_grad()
    matching_aware_gradient_penalty(d, x, t).backward()  # the penalty alone reaches D's parameters
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in d.project.parameters())
    d.eval()
    assert not torch.equal(d(x, t), d(x, t.roll(1, 0)))  # the caption changes the score


def test_unconditional_discriminator_ignores_the_caption():
    d = TextConditionalDiscriminator(text_dim=8, channels=8, conditional=False).eval()  # eval: no power iteration
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(d(x, torch.randn(2, 8)), d(x, None))


def _setup(seed=0):
    torch.manual_seed(seed)
    data = CaptionedShapes("train", size=32, n=16, seed=0)
    model = TCIC(8, 12, hyper_stages=1, fusion="ssa", text_dim=8)
    fit_text_mean(model, FakeEncoder(), data.captions)
    model.update(force=True)
    d = TextConditionalDiscriminator(text_dim=8, channels=8)
    return data, model, d, CaptionConditioner(model, FakeEncoder(), "true", dropout=0.1)


def test_resume_matches_an_uninterrupted_run(tmp_path):
    cfg = GANConfig(steps=4, batch_size=4, log_every=2)
    data, model, d, cond = _setup()
    full = finetune(model, d, data, cfg, cond, checkpoint=tmp_path / "a.pt", progress=False)
    data, model2, d2, cond2 = _setup()
    finetune(model2, d2, data, cfg, cond2, checkpoint=tmp_path / "b.pt", progress=False, stop_at=2)
    data, model3, d3, cond3 = _setup()
    resumed = finetune(model3, d3, data, cfg, cond3, checkpoint=tmp_path / "b.pt", progress=False)
    assert len(resumed["train"]) == 4
    for a, b in zip(full["train"], resumed["train"]):
        assert a["g_loss"] == pytest.approx(b["g_loss"], rel=1e-5) and a["d_loss"] == pytest.approx(b["d_loss"], rel=1e-5)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(model.g_s.parameters(), model3.g_s.parameters()))


def test_frozen_encoder_keeps_the_bitstream(tmp_path):
    data, model, d, cond = _setup()
    g_a = [p.clone() for p in model.g_a.parameters()]
    finetune(model, d, data, GANConfig(steps=2, batch_size=4), cond, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(g_a, model.g_a.parameters()))


def test_divergence_stops_with_the_last_good_checkpoint(tmp_path):
    data, model, d, cond = _setup()
    path = tmp_path / "gan.pt"
    finetune(model, d, data, GANConfig(steps=2, batch_size=4, log_every=1), cond, checkpoint=path, progress=False)
    good = load_checkpoint(path)["step"]
    with pytest.raises(TrainingDiverged, match="last good checkpoint"):
        finetune(model, d, data, GANConfig(steps=4, batch_size=4, log_every=1, divergence_limit=1e-6), cond,
                 checkpoint=path, progress=False)
    assert load_checkpoint(path)["step"] == good


def test_a_gan_run_is_named_after_its_adversary():
    from tcic_lib import zoo
    from tcic_lib.config import profile
    from tests.conftest import FakeEncoder

    p, encoder = profile("quick"), FakeEncoder()
    names = {zoo.gan_recipe("tcic", encoder, p, conditional=c, **kw).name
             for c, kw in ((True, {}), (False, {}), (True, {"adv_weight": 0.0}))}
    assert names == {"gan-tcic-ssa-textD-seed0", "gan-tcic-ssa-plainD-seed0", "gan-tcic-ssa-noadv-seed0"}
