import pytest
import torch

from tcic_lib import zoo
from tcic_lib.conditioning import CaptionConditioner, fit_text_mean
from tcic_lib.config import profile
from tcic_lib.data import CaptionedShapes
from tcic_lib.models import TCIC
from tcic_lib.train import TrainConfig, load_checkpoint, train


class FakeEncoder:
    """Deterministic caption features (a hash of the text), so tests need no CLIP."""

    name = key = "fake"
    dim = 8

    def encode(self, captions, return_mask=False):
        pooled = torch.stack([torch.randn(8, generator=torch.Generator().manual_seed(sum(map(ord, c)) + len(c)))
                              for c in captions])
        tokens = pooled[:, None, :].repeat(1, 4, 1)
        mask = torch.ones(len(captions), 4, dtype=torch.bool)
        return (tokens, pooled, mask) if return_mask else (tokens, pooled)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return TCIC(8, 12, hyper_stages=1, fusion="ssa", text_dim=8)


def test_modes(model):
    pool = ["a red circle at the left", "a blue square at the top"]
    fit_text_mean(model, FakeEncoder(), pool)
    captions = ["a green diamond at the centre"] * 6
    true = CaptionConditioner(model, FakeEncoder(), "true", dropout=0.0)(captions)
    centred = FakeEncoder().encode(captions[:1])[1][0] - model.text_mean
    assert torch.allclose(true.pooled[0], centred)
    unrelated = CaptionConditioner(model, FakeEncoder(), "unrelated", dropout=0.0, pool=pool)(captions)
    assert not any(torch.allclose(row, true.pooled[0]) for row in unrelated.pooled)
    assert CaptionConditioner(model, FakeEncoder(), "none")(captions) is None


def test_dropout_only_in_training(model):
    torch.manual_seed(1)
    conditioner = CaptionConditioner(model, FakeEncoder(), "true", dropout=0.5)
    captions = [f"caption {i}" for i in range(64)]
    dropped = (conditioner(captions, training=True).pooled.abs().sum(1) == 0).float().mean()
    assert 0.3 < dropped < 0.7
    assert (conditioner(captions, training=False).pooled.abs().sum(1) > 0).all()


def test_bad_settings(model):
    with pytest.raises(ValueError, match="caption mode"):
        CaptionConditioner(model, FakeEncoder(), "swapped")
    with pytest.raises(ValueError, match="pool"):
        CaptionConditioner(model, FakeEncoder(), "unrelated")
    with pytest.raises(ValueError, match="dropout"):
        CaptionConditioner(model, FakeEncoder(), dropout=1.0)


def test_caption_training_resumes_exactly(tmp_path):
    data = CaptionedShapes("train", 32, 16)
    cfg = TrainConfig(lmbda=0.01, steps=4, batch_size=4, val_every=10, seed=2)

    def run(stop_at=None, path=tmp_path / "a.pt"):
        torch.manual_seed(0)
        model = TCIC(8, 12, hyper_stages=1, fusion="film", text_dim=8)
        conditioner = CaptionConditioner(model, FakeEncoder(), "unrelated", dropout=0.3, pool=data.captions)
        history = train(model, data, None, cfg, checkpoint=path, condition=conditioner, progress=False, stop_at=stop_at)
        return model, history

    straight, full = run()
    run(stop_at=2, path=tmp_path / "b.pt")
    resumed, rest = run(path=tmp_path / "b.pt")
    assert [r["loss"] for r in rest.train] == pytest.approx([r["loss"] for r in full.train], rel=1e-5)


def test_zoo_tcic_variants(tmp_path, monkeypatch):
    monkeypatch.setenv("TCIC_CACHE", str(tmp_path))
    p = profile("quick").replace(tcic_steps=2, n_train=16, val_every=2)
    encoder = FakeEncoder()
    tcic, conditioner = zoo.get_tcic("tcic", encoder, p, lmbda=0.01, progress=False)
    control, control_conditioner = zoo.get_tcic("control", encoder, p, lmbda=0.01, progress=False)
    notext, _ = zoo.get_tcic("notext", encoder, p, lmbda=0.01, progress=False)
    count = lambda m: sum(q.numel() for q in m.parameters())
    assert count(tcic) == count(control) > count(notext)  # the control matches TCIC's capacity
    assert conditioner.mode == "true" and control_conditioner.mode == "unrelated"
    r, _ = zoo.tcic_recipe("tcic", encoder, p, lmbda=0.01)
    assert load_checkpoint(tmp_path / f"{r.key()}.pt")["step"] == 2
    assert torch.count_nonzero(tcic.text_mean) > 0
    with pytest.raises(ValueError, match="variant"):
        zoo.get_tcic("shuffled", encoder, p)


def test_shipped_checkpoints_load_before_training(tmp_path, monkeypatch):
    monkeypatch.setenv("TCIC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TCIC_SHIPPED", str(tmp_path / "shipped"))
    p = profile("quick").replace(tcic_steps=2, n_train=16, val_every=2)
    trained, _ = zoo.get_tcic("tcic", FakeEncoder(), p, lmbda=0.01, progress=False)
    r, _ = zoo.tcic_recipe("tcic", FakeEncoder(), p, lmbda=0.01)
    entry = zoo.ship(r.path, card={"steps": 2})
    assert entry["bytes"] < r.path.stat().st_size and entry["steps"] == 2
    assert zoo.shipped_manifest()[r.key()]["sha256"] == entry["sha256"]

    r.path.unlink()
    shipped, _ = zoo.get_tcic("tcic", FakeEncoder(), p, lmbda=0.01, progress=False)
    state = load_checkpoint(r.path)
    assert "optimizer" not in state  # loaded, not retrained
    for (name, a), b in zip(trained.state_dict().items(), shipped.state_dict().values()):
        if a.is_floating_point() and not name.endswith("quantiles"):  # fp16 round trip; update() rebuilds the rest
            assert torch.allclose(a, b, rtol=1e-3, atol=1e-3), name

    r.path.unlink()
    (tmp_path / "shipped" / entry["file"]).write_bytes(b"tampered")
    zoo.get_tcic("tcic", FakeEncoder(), p, lmbda=0.01, progress=False)  # sha256 fails: trains instead
    assert "optimizer" in load_checkpoint(r.path)
