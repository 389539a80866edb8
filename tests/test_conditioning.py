import pytest
import torch

from tcic_lib import zoo
from tcic_lib.checkpoint import load_checkpoint
from tcic_lib.conditioning import CaptionConditioner, fit_text_mean
from tcic_lib.config import TrainConfig, profile
from tcic_lib.data import CaptionedShapes
from tcic_lib.tcic import TCIC
from tcic_lib.train import train

from .conftest import FakeEncoder


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
    assert [r["loss"] for r in rest["train"]] == pytest.approx([r["loss"] for r in full["train"]], rel=1e-5)


def _tiny(p):
    return p.replace(data=p.data.replace(n_train=16, n_val=4), train=p.train.replace(val_every=2), tcic_steps=2)


def test_zoo_tcic_variants(cache):
    p, encoder = _tiny(profile("quick")), FakeEncoder()
    recipes = {v: zoo.tcic_recipe(v, encoder, p, lmbda=0.01) for v in ("tcic", "control", "notext")}
    models = {v: zoo.fetch(r, encoder, progress=False) for v, r in recipes.items()}
    count = lambda m: sum(q.numel() for q in m.parameters())
    assert count(models["tcic"]) == count(models["control"]) > count(models["notext"])  # capacity-matched control
    assert zoo.caption_conditioner(recipes["control"], models["control"], encoder).mode == "unrelated"
    assert zoo.caption_conditioner(recipes["tcic"], models["tcic"], encoder).mode == "true"
    assert load_checkpoint(recipes["tcic"].path)["step"] == 2 and len(zoo.history(recipes["tcic"])["val"]) == 1
    assert torch.count_nonzero(models["tcic"].text_mean) > 0
    assert recipes["tcic"].key() != zoo.tcic_recipe("tcic", encoder, p, lmbda=0.01, detail="colour").key()
    with pytest.raises(ValueError, match="variant"):
        zoo.tcic_recipe("shuffled", encoder, p)
    with pytest.raises(ValueError, match="reads the features of text encoder"):
        other = type("Other", (FakeEncoder,), {"key": "other"})()
        zoo.fetch(zoo.tcic_recipe("tcic", other, p, lmbda=0.02), encoder, progress=False)


def test_shipped_checkpoints_load_before_training(cache, tmp_path, monkeypatch):
    from tcic_lib import shipping

    monkeypatch.setenv("TCIC_SHIPPED", str(tmp_path / "shipped"))
    p, encoder = _tiny(profile("quick")), FakeEncoder()
    r = zoo.tcic_recipe("tcic", encoder, p, lmbda=0.01)
    trained = zoo.fetch(r, encoder, progress=False)
    entry = shipping.ship(r.path, card={"steps": 2})
    assert entry["bytes"] < r.path.stat().st_size and entry["steps"] == 2
    assert shipping.shipped_manifest()[r.key()]["sha256"] == entry["sha256"]

    r.path.unlink()
    shipped = zoo.fetch(r, encoder, progress=False)
    assert not any(k.startswith("opt") for k in load_checkpoint(r.path)["extra"])  # installed, not retrained
    for (name, a), b in zip(trained.state_dict().items(), shipped.state_dict().values()):
        if a.is_floating_point() and not name.endswith("quantiles"):  # fp16 round trip; update() rebuilds the rest
            assert torch.allclose(a, b, rtol=1e-3, atol=1e-3), name

    r.path.unlink()
    (tmp_path / "shipped" / entry["file"]).write_bytes(b"tampered")
    zoo.fetch(r, encoder, progress=False)  # sha256 fails: trains instead
    assert "opt_main" in load_checkpoint(r.path)["extra"]
