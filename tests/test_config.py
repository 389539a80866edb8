import subprocess
import sys

import pytest
import torch

from tcic_lib.config import PROFILES, ProfileError, default_profile_name, device, profile, seed_everything


def test_env_var_selects_profile(monkeypatch):
    monkeypatch.setenv("TCIC_PROFILE", "cpu")
    assert profile().name == "cpu"
    monkeypatch.setenv("TCIC_PROFILE", "quick")
    assert profile().name == "quick"


def test_explicit_name_beats_env(monkeypatch):
    monkeypatch.setenv("TCIC_PROFILE", "quick")
    assert profile("gpu").name == "gpu"


def test_auto_default_follows_cuda(monkeypatch):
    monkeypatch.delenv("TCIC_PROFILE", raising=False)
    expected = "gpu" if torch.cuda.is_available() else "cpu"
    assert default_profile_name() == expected
    assert profile().name == expected


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
        quick.steps = 1  # type: ignore[misc]
    for field in ("image_size", "n_train", "N", "M", "steps"):
        assert getattr(quick, field) < getattr(cpu, field) <= getattr(gpu, field), field
    assert quick.replace(steps=3).steps == 3 and quick.steps != 3


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


def test_cli_help_lists_subcommands():
    run = subprocess.run([sys.executable, "-m", "tcic_lib.cli", "--help"], capture_output=True, text=True)
    assert run.returncode == 0
    for command in ("info", "course"):
        assert command in run.stdout


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
    (tmp_path / "x.tcic").write_bytes(b"TCIC\x01" + b"\x00" * 30)
    failed = run("decompress", coded, "-o", out, "--model", ckpt)
    assert failed.returncode == 2 and failed.stderr.count("\n") == 1 and "checksum" in failed.stderr
