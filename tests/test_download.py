"""`tcic fetch-weights` puts files where the libraries look, and the labels switch; served from local files here."""

import torch
from compressai.models import ScaleHyperprior

from tcic_lib import cli
from tcic_lib.architectures import pretrained_hyperprior
from tcic_lib.download import fetch_weights, weight_files
from tcic_lib.metrics import lpips_model
from tcic_lib.pretrained import weights_report


def test_fetched_weights_switch_the_labels(tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert "uncalibrated" in lpips_model()[1]
    served = tmp_path / "served"
    served.mkdir()
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), served / "alexnet.pth")
    placed = fetch_weights(["alexnet"], {"alexnet": (served / "alexnet.pth").as_uri()}, progress=False)
    assert placed["alexnet"] == weight_files()["alexnet"][1] and placed["alexnet"].is_file()
    assert lpips_model()[1] == "LPIPS"  # calibrated now: the label says so by itself
    assert next(w for w in weights_report() if w.name.startswith("AlexNet")).available


def test_compressai_weights_load_into_our_hyperprior_key_by_key(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert pretrained_hyperprior(1) is None
    torch.manual_seed(0)
    theirs = ScaleHyperprior(128, 192)
    torch.save(theirs.state_dict(), tmp_path / "q1.pth.tar")
    source = f"bmshj2018-hyperprior-1={(tmp_path / 'q1.pth.tar').as_uri()}"
    assert cli.main(["fetch-weights", "--only", "bmshj2018-hyperprior-1", "--source", source, "--quiet"]) == 0
    ours = pretrained_hyperprior(1)
    assert ours.arch == "Hyperprior(N=128,M=192,hyper_stages=2)"
    for name, tensor in theirs.state_dict().items():
        coding_tables = name.startswith(("entropy_bottleneck._", "gaussian_conditional.")) or name.endswith("quantiles")
        if not coding_tables:  # update() rewrites those from the densities
            assert torch.equal(ours.state_dict()[name], tensor), name
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(ours.eval()(x)["x_hat"], theirs.eval()(x)["x_hat"], atol=1e-5)
