"""The zoo's other paths: ablation grids, adversarial fine-tuning runs, named models on the command line."""

import numpy as np
import pytest
import torch
from PIL import Image

from tcic_lib import cli, plan, shipping, zoo
from tcic_lib.ablate import cost_table, run_grid
from tcic_lib.checkpoint import load_checkpoint
from tcic_lib.config import profile

from .conftest import FakeEncoder


def _tiny(**changes):
    p = profile("quick")
    return p.replace(data=p.data.replace(n_train=16, n_val=4, n_test=4), train=p.train.replace(val_every=2),
                     tcic_steps=2, gan_steps=2, eval_images=3, **changes)


def test_ablation_grid_rows_and_costs(cache):
    p = _tiny()
    rows = run_grid(FakeEncoder(), p, fusions=("none", "film"), conditions=("true", "shuffled"), lmbdas=(0.01,))
    assert len(rows) == 2 * 2 * 3 and {"psnr_patterned", "attributes_right", "bpp_latent"} <= set(rows.columns)
    table = cost_table(rows)
    assert table.loc[("none", 0.01, "true"), "cost_of_shuffled"] == 0  # no caption path, no cost
    assert np.isfinite(table.loc[("film", 0.01, "true"), "cost_of_shuffled"])
    with pytest.raises(ValueError, match="unknown caption conditions"):
        run_grid(FakeEncoder(), p, conditions=("swapped",))


def test_gan_runs_train_once_keep_the_files_and_keep_their_discriminator(cache):
    p, encoder = _tiny(), FakeEncoder()
    r = zoo.gan_recipe("tcic", encoder, p, 0.01, conditional=True)
    model = zoo.fetch(r, encoder, progress=False)
    stamp = r.path.stat().st_mtime_ns
    again = zoo.fetch(r, encoder, progress=False)
    assert r.path.stat().st_mtime_ns == stamp  # loaded, not fine-tuned again
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    base = zoo.fetch(r.base, encoder, progress=False)
    x = torch.rand(3, 32, 32)
    assert model.compress(x[None])["strings"] == base.compress(x[None])["strings"]  # frozen encoder: same bits
    assert len(zoo.history(r)["train"]) == 2 and zoo.discriminator(r, encoder).conditional
    assert {"psnr", "lpips", "hf_kept"} <= set(zoo.history(r)["val"][-1])  # the curve that says when to stop
    plain = zoo.gan_recipe("tcic", encoder, p, 0.01, conditional=False)
    assert plain.key() != r.key() and plain.base.key() == r.base.key()


@pytest.mark.slow
def test_named_models_on_the_command_line(cache, tmp_path, monkeypatch, capsys):
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    monkeypatch.setenv("TCIC_SHIPPED", str(shipped))
    p = profile("quick")
    r = zoo.named_recipe("hyperprior", 1, p)
    zoo.fetch(r, progress=False)
    shipping.ship(r.path, shipped, card={"test_bpp": 0.5, "test_psnr": 20.0})
    r.path.unlink()  # from now on the cache holds what learners get: the shipped file
    assert cli.main(["models", "--profile", "quick"]) == 0
    listing = capsys.readouterr().out
    assert "hyperprior" in listing and "shipped" in listing and "not trained" in listing

    image, coded, out = tmp_path / "x.png", tmp_path / "x.tcic", tmp_path / "y.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 52, 3), dtype=np.uint8)).save(image)
    assert cli.main(["compress", str(image), "-o", str(coded), "--model", "hyperprior", "--quality", "1",
                     "--profile", "quick"]) == 0
    assert cli.main(["decompress", str(coded), "-o", str(out), "--profile", "quick"]) == 0  # found by fingerprint
    assert Image.open(out).size == (52, 40)
    capsys.readouterr()
    assert cli.main(["compress", str(image), "-o", str(coded), "--model", "tcic-pxattn", "--quality", "1",
                     "--profile", "quick"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "tcic train --profile quick --model tcic --lmbda 0.001 --fusion pxattn" in error
    assert cli.main(["compress", str(image), "-o", str(coded), "--model", "hyperprior", "--quality", "9",
                     "--profile", "quick"]) == 2
    assert load_checkpoint(r.path)["step"] == p.train.steps


def test_extended_studies_are_left_out_only_where_a_profile_does_not_train_them(cache):
    p = profile("quick")
    encoder = zoo.minclip_spec(p)
    everything, none_left = plan.runnable_study(p, encoder)
    assert none_left == {} and everything == plan.caption_study(p, encoder)
    core, left_out = plan.runnable_study(p.replace(train_extended=False), encoder)
    assert set(left_out) == {k for k in everything if plan.is_extended(k, p)} != set()
    assert all(k[0] == "conditional" or k[3] != "full" or k[4] != p.train.seed for k in left_out)
    assert {r.key() for r in plan.notebook_recipes(p.replace(train_extended=False))["05_tcic"]} == {
        r.key() for r in core.values()}
    commands = [zoo.train_command(r, p) for r in left_out.values()]
    assert any("--seed 1" in c for c in commands) and any("--detail colour" in c for c in commands)


@pytest.mark.slow
def test_a_short_run_of_the_ultra_low_recipe_does_not_collapse(cache):
    """The profile's ultra-low protocol (text-free base, lambda annealed down, then TCIC from it): its files carry
    more than the coder's 32-bit flush, and it beats a flat grey picture of every scene."""
    from tcic_lib.bitstream import encode_batch, decode_batch, unpack
    from tcic_lib.evaluate import shapes_test_scenes
    from tcic_lib.metrics import psnr

    p, encoder = profile("quick"), FakeEncoder()
    p = p.replace(low_rate=p.low_rate.replace(steps=100, base_steps=200, anneal_steps=100))
    r = zoo.tcic_recipe("tcic", encoder, p, p.lowest_lmbda, fusion="pxattn")
    assert r.base is not None and r.protocol == p.low_rate.protocol
    model = zoo.fetch(r, encoder, progress=False)
    images, captions, _ = shapes_test_scenes(p, n=8)
    files = encode_batch(model, images, captions)
    decoded = torch.stack(decode_batch(model, files, text_encoder=encoder))
    x = torch.stack(images)
    assert min(len(unpack(f).strings[0]) for f in files) > 4  # more than the rANS coder's final state
    grey = torch.full_like(x, 0.5)
    margin = psnr(decoded, x).mean() - psnr(grey, x).mean()
    assert margin > 0.5, f"{margin:.2f} dB over a grey picture"  # ~1.1 dB measured: the scene colours


def test_one_process_at_a_time_trains_into_a_path(tmp_path):
    import threading
    import time

    spans = []

    def hold():
        with zoo._training_lock(tmp_path / "model.pt"):
            start = time.perf_counter()
            time.sleep(0.2)
            spans.append((start, time.perf_counter()))

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (a_start, a_end), (b_start, b_end) = sorted(spans)
    assert b_start >= a_end, spans  # the second waited for the first
