"""One result schema: caption conditions on one bitstream, summaries, curves and BD tables."""

import numpy as np
import pandas as pd
import pytest
import torch

from tcic_lib.evaluate import bd_table, curve, decode_conditions, evaluate, model_setting, summarize, tcic_setting
from tcic_lib.tcic import TCIC

from .conftest import FakeEncoder


def _model(fusion):
    torch.manual_seed(0)
    model = TCIC(8, 12, hyper_stages=1, fusion=fusion, text_dim=8).eval()
    for block in getattr(model.g_s, "fusions", []):  # as if trained: the caption changes the output
        for layer in (getattr(block, "gamma", None), getattr(block, "beta", None)):
            if layer is not None:
                torch.nn.init.normal_(layer[-1].weight)
    model.update()
    return model


def test_one_bitstream_three_captions():
    images = [torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    captions = ["a red circle", "a blue striped square", "a dotted green diamond"]
    settings = [tcic_setting(_model("film"), FakeEncoder(), "tcic", 0.01),
                tcic_setting(_model("none"), FakeEncoder(), "notext", 0.01)]
    rows = evaluate(settings, images, captions, decode_conditions(captions))
    assert len(rows) == 2 * 3 * 3 and set(rows["condition"]) == {"true", "shuffled", "none"}
    per_file = rows.groupby(["variant", "image"])["bpp_total"].nunique()
    assert (per_file == 1).all()  # the same file under every condition
    tcic = rows[rows["variant"] == "tcic"].pivot(index="image", columns="condition", values="psnr")
    assert not np.allclose(tcic["true"], tcic["shuffled"])
    notext = rows[rows["variant"] == "notext"].pivot(index="image", columns="condition", values="psnr")
    assert np.allclose(notext["true"], notext["shuffled"]) and np.allclose(notext["true"], notext["none"])
    assert (rows.loc[rows["variant"] == "tcic", "bpp_caption"] > 0).all()  # its file stores the caption
    assert (rows.loc[rows["variant"] == "notext", "bpp_caption"] == 0).all()  # a model that reads none stores none


def test_summary_curve_and_bd_table():
    rows = pd.DataFrame([{"codec": c, "setting": f"q{k}", "variant": "", "condition": "true", "image": i,
                          "bpp_latent": r * (0.9 if c == "b" else 1.0), "psnr": 30 + 3 * k, "objects": 2,
                          "attributes_right": 1, "colour_right": 2, "pattern_right": 1, "shape_right": 0}
                         for c in ("a", "b") for k, r in enumerate((0.1, 0.2, 0.4, 0.8)) for i in range(2)])
    summary = summarize(rows)
    assert len(summary) == 8 and (summary["attributes_accuracy"] == 0.5).all()
    rates, values = curve(summary, codec="b")
    assert np.all(np.diff(rates) > 0) and values[0] == 30
    table = bd_table(summary, [("b vs a", {"codec": "b"}, {"codec": "a"})])
    assert table.loc[0, "BD-rate (%)"] == pytest.approx(-10.0, abs=0.01)
    with pytest.raises(ValueError, match="no rows match"):
        curve(summary, codec="c")


def test_decoding_needs_the_encoder_for_caption_readers():
    with pytest.raises(ValueError, match="reads captions"):
        model_setting("TCIC", _model("film"), "λ=0.01")
