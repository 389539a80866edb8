import subprocess
import sys

import pytest
import torch

from tcic_lib.bitstream import VERSION
from tcic_lib.config import PROFILES, ProfileError, default_profile_name, device, profile, seed_everything


def test_env_var_selects_profile(monkeypatch):
    monkeypatch.setenv("TCIC_PROFILE", "cpu")
    assert profile().name == "cpu"
    monkeypatch.setenv("TCIC_PROFILE", "quick")
    assert profile().name == "quick"


def test_explicit_name_beats_env(monkeypatch):
    monkeypatch.setenv("TCIC_PROFILE", "quick")
    assert profile("gpu").name == "gpu"


@pytest.mark.parametrize("cuda", [False, True])
def test_default_is_the_shipped_profile_on_every_device(monkeypatch, cuda):
    """A GPU runs the course faster; it does not switch to the day-long gpu profile unless asked."""
    monkeypatch.delenv("TCIC_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert default_profile_name() == "cpu" and profile().name == "cpu"
    assert profile("gpu").name == "gpu"


def test_unknown_profile_names_the_valid_ones(monkeypatch):
    monkeypatch.setenv("TCIC_PROFILE", "bogus")
    with pytest.raises(ProfileError) as err:
        profile()
    message = str(err.value)
    assert "bogus" in message and all(name in message for name in PROFILES)
    assert "\n" not in message


def test_profiles_are_frozen_and_grow():
    quick, cpu, gpu = (PROFILES[n] for n in ("quick", "cpu", "gpu"))
    with pytest.raises(Exception):
        quick.tcic_steps = 1  # type: ignore[misc]
    for part, field in (("data", "image_size"), ("data", "n_train"), ("codec", "N"), ("codec", "M"), ("train", "steps")):
        values = [getattr(getattr(p, part), field) for p in (quick, cpu, gpu)]
        assert values[0] < values[1] <= values[2], field
    changed = quick.replace(train=quick.train.replace(steps=3))
    assert changed.train.steps == 3 and quick.train.steps != 3


def test_rate_points():
    cpu = PROFILES["cpu"]
    assert cpu.middle_lmbda == sorted(cpu.lmbdas)[len(cpu.lmbdas) // 2]
    assert cpu.rd_train(0.05).lmbda == 0.05 and cpu.rd_train(0.05, steps=7).steps == 7
    assert max(cpu.low_lmbdas) < min(cpu.lmbdas) and cpu.lowest_lmbda == min(cpu.low_lmbdas)


def test_seed_everything_repeats_draws():
    a = torch.rand(4, generator=seed_everything(7))
    torch_a = torch.rand(2)
    b = torch.rand(4, generator=seed_everything(7))
    torch_b = torch.rand(2)
    assert torch.equal(a, b) and torch.equal(torch_a, torch_b)
    assert not torch.equal(a, torch.rand(4, generator=seed_everything(8)))


def test_device_respects_override(monkeypatch):
    monkeypatch.setenv("TCIC_DEVICE", "cpu")
    assert device() == torch.device("cpu")


def test_cli_bogus_profile_is_one_line(monkeypatch):
    env = {"TCIC_PROFILE": "bogus", "PATH": "", "HF_HUB_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-m", "tcic_lib.cli", "info"], capture_output=True, text=True, env=env)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "quick, cpu, gpu" in lines[0]




def test_cli_train_compress_decompress_round_trip(tmp_path):
    import numpy as np
    from PIL import Image

    run = lambda *a: subprocess.run([sys.executable, "-m", "tcic_lib.cli", *a], capture_output=True, text=True,
                                    env={"TCIC_PROFILE": "quick", "HF_HUB_OFFLINE": "1", "PATH": ""})
    ckpt, image, coded, out = (str(tmp_path / n) for n in ("m.pt", "x.png", "x.tcic", "y.png"))
    assert run("train", "--model", "factorized", "--steps", "3", "--out", ckpt).returncode == 0
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (21, 35, 3), dtype=np.uint8)).save(image)
    done = run("compress", image, "-o", coded, "--model", ckpt, "--caption", "noise")
    assert done.returncode == 0 and "bpp" in done.stdout
    assert run("decompress", coded, "-o", out, "--model", ckpt).returncode == 0
    assert Image.open(out).size == (35, 21)
    (tmp_path / "x.tcic").write_bytes(b"TCIC" + bytes([VERSION]) + b"\x00" * 30)
    failed = run("decompress", coded, "-o", out, "--model", ckpt)
    assert failed.returncode == 2 and failed.stderr.count("\n") == 1 and "checksum" in failed.stderr
    (tmp_path / "junk.pt").write_bytes(b"this is not a checkpoint")
    junk = run("compress", image, "-o", coded, "--model", str(tmp_path / "junk.pt"))
    assert junk.returncode == 2 and junk.stderr.count("\n") == 1
    assert "junk.pt: not a tcic checkpoint" in junk.stderr and "weights_only" not in junk.stderr
