"""Models, RD loss, training loop (including exact resume), zoo cache, metrics."""

import numpy as np
import pytest
import torch
from compressai.losses import RateDistortionLoss

from tcic_lib import zoo
from tcic_lib.architectures import build_model, model_from_checkpoint
from tcic_lib.checkpoint import CheckpointError, load_checkpoint
from tcic_lib.config import TrainConfig, profile
from tcic_lib.data import CaptionedShapes
from tcic_lib.metrics import bd_psnr, bd_rate, psnr
from tcic_lib.models import Factorized, Hyperprior
from tcic_lib.quantization import block_dct, estimated_bits, inverse_block_dct, quantize
from tcic_lib.tcic import TCIC
from tcic_lib.train import train

from .conftest import FakeEncoder


@pytest.mark.parametrize("cls", [Factorized, Hyperprior])
def test_forward_contract_for_odd_sizes(cls):
    model = cls(8, 12)
    out = model(torch.rand(2, 3, 37, 61))
    assert out["x_hat"].shape == (2, 3, 37, 61)
    assert set(out["likelihoods"]) == ({"y"} if cls is Factorized else {"y", "z"})


def test_bad_inputs_to_models():
    model = Hyperprior(8, 12)
    with pytest.raises(ValueError, match="\\(B, 3, H, W\\)"):
        model(torch.rand(1, 4, 16, 16))
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("Transformer")


def test_rd_loss_terms():
    x = torch.rand(2, 3, 16, 16)
    lk = torch.full((2, 4, 2, 2), 0.5)
    out = {"x_hat": x + 0.1, "likelihoods": {"y": lk}}
    terms = RateDistortionLoss(0.01)(out, x)
    assert terms["bpp_loss"].item() == pytest.approx(2 * 4 * 2 * 2 / (2 * 16 * 16))
    assert terms["mse_loss"].item() == pytest.approx(0.01, rel=1e-4)
    assert terms["loss"].item() == pytest.approx(0.01 * 255**2 * 0.01 + terms["bpp_loss"].item(), rel=1e-4)
    assert estimated_bits(lk) == pytest.approx(32)


def test_quantize_modes():
    y = torch.tensor([0.2, 0.7, -1.6])
    assert torch.equal(quantize(y), torch.tensor([0.0, 1.0, -2.0]))
    noisy = quantize(y, "noise", torch.Generator().manual_seed(0))
    assert (noisy - y).abs().max() <= 0.5 and not torch.equal(noisy, quantize(y))
    y.requires_grad_(True)
    quantize(y, "ste").sum().backward()
    assert torch.equal(y.grad, torch.ones(3))
    with pytest.raises(ValueError):
        quantize(y, "floor")


def test_block_dct_is_orthonormal_and_invertible():
    x = torch.rand(1, 3, 8, 8)
    y = block_dct(x)
    assert torch.allclose(inverse_block_dct(y), x, atol=1e-6)
    assert torch.allclose(y.pow(2).sum(), x.pow(2).sum(), rtol=1e-5)


def _tiny_setup(steps=6):
    train_set = CaptionedShapes("train", 32, 24)
    cfg = TrainConfig(lmbda=0.01, steps=steps, batch_size=4, val_every=3, seed=1)
    return train_set, cfg


def test_training_lowers_the_loss():
    train_set, cfg = _tiny_setup(steps=25)
    torch.manual_seed(0)
    model = Hyperprior(8, 12)
    history = train(model, train_set, None, cfg.replace(val_every=100), progress=False)
    first = np.mean([r["loss"] for r in history["train"][:5]])
    last = np.mean([r["loss"] for r in history["train"][-5:]])
    assert last < first


def test_resume_gives_the_same_result_as_one_run(tmp_path):
    train_set, cfg = _tiny_setup(steps=6)
    torch.manual_seed(0)
    straight = Hyperprior(8, 12)
    init = {k: v.clone() for k, v in straight.state_dict().items()}
    full = train(straight, train_set, None, cfg, checkpoint=tmp_path / "a.pt", progress=False)

    half = Hyperprior(8, 12)
    half.load_state_dict(init)
    train(half, train_set, None, cfg, checkpoint=tmp_path / "b.pt", progress=False, stop_at=3)
    assert load_checkpoint(tmp_path / "b.pt")["step"] == 3
    resumed = Hyperprior(8, 12)
    resumed.load_state_dict(init)
    rest = train(resumed, train_set, None, cfg, checkpoint=tmp_path / "b.pt", progress=False)
    assert [r["loss"] for r in rest["train"]] == pytest.approx([r["loss"] for r in full["train"]], rel=1e-5)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_checkpoint_round_trip_and_errors(tmp_path):
    train_set, cfg = _tiny_setup(steps=3)
    model = Factorized(8, 12)
    train(model, train_set, CaptionedShapes("val", 32, 8), cfg, checkpoint=tmp_path / "m.pt", progress=False)
    loaded = model_from_checkpoint(tmp_path / "m.pt")
    assert loaded.arch == "Factorized(N=8,M=12)"
    assert load_checkpoint(tmp_path / "m.pt")["history"]["val"]
    with pytest.raises(CheckpointError, match="expected Hyperprior"):
        model_from_checkpoint(tmp_path / "m.pt", expect_arch="Hyperprior")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt: not a tcic checkpoint") as err:
        model_from_checkpoint(tmp_path / "junk.pt")
    assert "\n" not in str(err.value) and "weights_only" not in str(err.value)  # one line, no unsafe advice
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a tcic checkpoint"):
        model_from_checkpoint(tmp_path / "other.pt")


def test_checkpoint_from_older_code_is_refused_clearly(tmp_path):
    model = TCIC(8, 12, hyper_stages=1, fusion="ssa", text_dim=8)
    state = {k.replace("mask_keys.0", "mask_predictor.0"): v for k, v in model.state_dict().items()}  # revision 1 names
    torch.save({"arch": "TCIC", "model_config": model.config(), "state_dict": state}, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match="weights do not fit TCIC"):
        model_from_checkpoint(tmp_path / "old.pt")


def _tiny(p, steps):
    return p.replace(data=p.data.replace(n_train=16, n_val=4), train=p.train.replace(steps=steps, val_every=2))


def test_zoo_trains_once_then_loads(cache):
    p = _tiny(profile("quick"), steps=4)
    r = zoo.codec_recipe("factorized", p, lmbda=0.01)
    first = zoo.fetch(r, progress=False)
    assert r.path.exists() and r.path.parent == cache
    stamp = r.path.stat().st_mtime_ns
    second = zoo.fetch(r, progress=False)
    assert r.path.stat().st_mtime_ns == stamp  # loaded, not retrained
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)
    assert zoo.codec_recipe("factorized", p, lmbda=0.02).path != r.path
    assert zoo.codec_recipe("factorized", p, lmbda=0.01).path == r.path
    with pytest.raises(ValueError, match="unknown zoo model"):
        zoo.codec_recipe("jpeg2000", p)


def test_validation_size_follows_the_profile_but_not_the_key(cache):
    p = _tiny(profile("quick"), steps=2)
    bigger = p.replace(data=p.data.replace(n_val=6))
    r, r_big = zoo.codec_recipe("hyperprior", p, 0.01), zoo.codec_recipe("hyperprior", bigger, 0.01)
    assert r.key() == r_big.key()  # validation is monitoring: it does not change the trained model
    assert len(zoo.datasets(r)[1]) == 4 and len(zoo.datasets(r_big)[1]) == 6


def test_psnr_values():
    x = torch.zeros(2, 3, 4, 4)
    assert psnr(x + 0.1, x).tolist() == pytest.approx([20.0, 20.0])
    with pytest.raises(ValueError):
        psnr(x, x[:1])


def test_bd_metrics_against_hand_computed_values():
    rate = np.array([0.1, 0.2, 0.4, 0.8])
    dist = np.array([30.0, 33.0, 36.0, 39.0])
    assert bd_rate(rate, dist, rate * 0.9, dist) == pytest.approx(-10.0, abs=0.01)  # 10% fewer bits everywhere
    assert bd_psnr(rate, dist, rate, dist + 0.5) == pytest.approx(0.5, abs=1e-3)
    with pytest.warns(UserWarning) as caught:
        assert np.isnan(bd_rate(rate, dist, rate, dist + 20))  # no PSNR in common: undefined, said once
    messages = " ".join(str(w.message) for w in caught)
    assert "undefined" in messages and "share only" not in messages
    with pytest.warns(UserWarning, match="share only 44%"):  # 35-39 dB of 30-39 and 35-44: defined, extrapolated
        assert np.isfinite(bd_rate(rate, dist, rate, dist + 5))
    with pytest.warns(UserWarning, match="does not rise"):  # an undertrained model's curve can bend back
        assert np.isnan(bd_psnr(rate, dist, rate, dist[::-1]))


def test_zoo_retrains_over_a_stale_checkpoint(cache):
    p = _tiny(profile("quick"), steps=2)
    r = zoo.codec_recipe("hyperprior", p, lmbda=0.01)
    cache.mkdir(parents=True)
    torch.save({"arch": "Hyperprior", "model_config": {"N": 4, "M": 4}, "state_dict": {}, "step": 1}, r.path)
    model = zoo.fetch(r, progress=False)
    assert model.arch == f"Hyperprior(N={p.codec.N},M={p.codec.M},hyper_stages={p.codec.hyper_stages})"
    assert load_checkpoint(r.path)["model_config"] == {"N": p.codec.N, "M": p.codec.M, "hyper_stages": p.codec.hyper_stages}


def test_tcic_without_fusion_is_the_hyperprior():
    count = lambda m: sum(p.numel() for p in m.parameters())
    assert count(TCIC(8, 12, hyper_stages=1, fusion="none", text_dim=16)) == count(Hyperprior(8, 12, hyper_stages=1))
    assert count(TCIC(8, 12, hyper_stages=1, fusion="ssa", text_dim=16)) > count(Hyperprior(8, 12, hyper_stages=1))


def test_tcic_caption_reaches_only_the_decoder():
    from tcic_lib.fusion import TextCondition

    torch.manual_seed(0)
    model = TCIC(8, 12, hyper_stages=1, fusion="film", text_dim=16).eval()
    for fuse in model.g_s.fusions:  # as if trained: make the caption matter
        torch.nn.init.normal_(fuse.gamma[-1].weight)
        torch.nn.init.normal_(fuse.beta[-1].weight)
    model.update()
    x = torch.rand(1, 3, 37, 45)
    a, b = TextCondition(torch.randn(1, 16)), TextCondition(torch.randn(1, 16))
    coded = model.compress(x, a)
    assert coded["strings"] == model.compress(x, b)["strings"]  # the encoder never reads the caption
    with torch.no_grad():
        x_a = model.decompress(coded["strings"], coded["shape"], a, size=coded["size"])["x_hat"]
        x_b = model.decompress(coded["strings"], coded["shape"], b, size=coded["size"])["x_hat"]
        assert torch.equal(x_a, model(x, a)["x_hat"].clamp(0, 1))
    assert x_a.shape == x.shape and not torch.equal(x_a, x_b)
    assert model.arch == "TCIC(N=8,M=12,hyper_stages=1,fusion=film,text_dim=16)"


def test_tcic_bitstream_uses_the_stored_or_given_caption():
    from tcic_lib.bitstream import decode, encode

    torch.manual_seed(0)
    model = TCIC(8, 12, hyper_stages=1, fusion="ssa", text_dim=8).eval()
    for fuse in model.g_s.fusions:
        torch.nn.init.normal_(fuse.beta[-1].weight)
    model.update()
    x = torch.rand(3, 20, 24)
    data = encode(model, x, "a red circle")
    stored = decode(model, data, text_encoder=FakeEncoder())
    assert torch.equal(stored, decode(model, data, "a red circle", FakeEncoder()))
    assert not torch.equal(stored, decode(model, data, "a blue striped square", FakeEncoder()))
    no_caption = decode(model, encode(model, x), text_encoder=FakeEncoder())
    assert not torch.equal(stored, no_caption)
    assert torch.equal(decode(model, data, None, FakeEncoder()), no_caption)  # None overrides the stored caption
    with pytest.raises(ValueError, match="text_encoder"):
        decode(model, data)


def test_conditional_coding_reads_the_caption_at_both_ends():
    from tcic_lib.bitstream import decode, encode

    torch.manual_seed(0)
    model = build_model("ConditionalTCIC", N=8, M=12, hyper_stages=1, fusion="pxattn", text_dim=8).eval()
    for block in [*model.g_a.fusions, model.mean_fusion]:  # as if trained: the encoder uses the caption
        torch.nn.init.normal_(block.mlp[-1].weight)
    torch.nn.init.normal_(model.mean_head.weight)
    model.update()
    z_hat = torch.randn(2, 8, 1, 1)
    text = model.condition(FakeEncoder(), ["a red circle", "a blue square"])
    means = model.means(z_hat[:1].expand(2, -1, -1, -1), text)
    assert not torch.allclose(means[0], means[1])  # the entropy model predicts y from the caption (residual coding)
    x = torch.rand(3, 32, 32)
    a, b = encode(model, x, "a red circle", FakeEncoder()), encode(model, x, "a blue square", FakeEncoder())
    assert a != b  # the file depends on the caption: the encoder read it
    assert decode(model, a, text_encoder=FakeEncoder()).shape == x.shape
    with pytest.raises(ValueError, match="text_encoder"):
        encode(model, x, "a red circle")
    with pytest.raises(ValueError, match="stored caption"):
        decode(model, a, "a blue square", FakeEncoder())


def test_a_tcic_without_fusion_needs_no_caption_or_encoder():
    from tcic_lib.bitstream import decode, encode

    model = TCIC(8, 12, hyper_stages=1, fusion="none", text_dim=8).eval()
    model.update(force=True)
    assert not model.reads_captions and TCIC(8, 12, hyper_stages=1, fusion="ssa", text_dim=8).reads_captions
    x = torch.rand(3, 16, 16)
    assert decode(model, encode(model, x)).shape == x.shape  # no text encoder needed


@pytest.mark.parametrize("arch, config", [("Factorized", {}), ("Hyperprior", {"hyper_stages": 1}),
                                          ("TCIC", {"hyper_stages": 1, "fusion": "pxattn", "text_dim": 8}),
                                          ("ConditionalTCIC", {"hyper_stages": 1, "fusion": "pxattn", "text_dim": 8})])
def test_a_float64_copy_codes_through_the_same_plumbing(arch, config):
    """Without a GPU, another dtype stands in for another device: every tensor of compress, decompress
    and condition must follow the model's weights, or this fails."""
    from tcic_lib.bitstream import decode, encode

    torch.manual_seed(0)
    model = build_model(arch, N=8, M=12, **config).double().eval()
    model.update()
    x = torch.rand(3, 40, 36)  # float32 in: the codec casts
    encoder = FakeEncoder() if model.reads_captions else None
    x_hat = decode(model, encode(model, x, "a red circle", encoder), text_encoder=encoder)
    assert x_hat.dtype == torch.float64 and x_hat.shape == x.shape
    with torch.no_grad():
        text = model.condition(encoder, ["a red circle"]) if encoder else None
        forward = model(x[None].double(), text)["x_hat"][0].clamp(0, 1)
    assert torch.allclose(x_hat, forward, atol=1e-6)  # the file decodes to the model's own reconstruction
