import logging

import pytest
import torch

from tcic_lib import zoo
from tcic_lib.config import profile
from tcic_lib.text import MissingWeightsError, load_text_encoder, normalize_images, retrieval_accuracy, tokenize


@pytest.fixture(scope="module")
def quick():
    p = profile("quick")
    return p.replace(clip=p.clip.replace(steps=30))


@pytest.fixture(scope="module")
def encoder(quick, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("TCIC_CACHE", str(tmp_path_factory.mktemp("cache")))
    mp.setenv("TCIC_SHIPPED", str(tmp_path_factory.mktemp("no-shipped")))
    mp.delenv("TCIC_CLIP_WEIGHTS", raising=False)
    yield zoo.text_encoder("minclip", quick, progress=False)
    mp.undo()


def test_tokenizer_is_clip_bpe():
    ids = tokenize(["a striped circle"])
    assert ids.shape == (1, 77)
    assert ids[0, 0] == 49406 and 49407 in ids[0].tolist()  # CLIP's start and end tokens


def test_encode_shapes_and_pooling(encoder):
    captions = ["a small red circle at the top left", "", "ein grüner Kreis ◯ 日本"]
    tokens, pooled, mask = encoder.encode(captions, return_mask=True)
    assert tokens.shape == (3, 77, encoder.dim) and pooled.shape == (3, encoder.dim)
    assert mask[1].sum() == 2  # an empty caption is start + end
    assert torch.allclose(pooled, encoder.model.encode_text(tokenize(captions)), atol=1e-5)
    assert torch.equal(tokens[:, ~mask.any(0)], torch.zeros_like(tokens[:, ~mask.any(0)]))
    assert not encoder.model.training and not any(p.requires_grad for p in encoder.model.parameters())


def test_cache_and_truncation_warning(encoder, caplog):
    long = "a striped square " * 600  # 10,200 characters
    with caplog.at_level(logging.WARNING, logger="tcic_lib.text"):
        first = encoder.encode([long])[1]
    assert "truncated" in caplog.text
    assert long in encoder._cache
    assert torch.equal(encoder.encode([long])[1], first)
    with pytest.raises(ValueError, match="list"):
        encoder.encode("one string")


def test_each_image_is_embedded_once_and_alike_in_any_batch(encoder):
    images = torch.rand(5, 3, 32, 32)
    together = encoder.encode_image(images)
    assert torch.allclose(together, encoder.model.encode_image(normalize_images(images, encoder.image_size)), atol=1e-5)
    kept = len(encoder._images)
    again = encoder.encode_image(torch.cat([images[3:], images[:1], images[:1]]))  # seen before, one twice
    assert len(encoder._images) == kept and torch.equal(again, together[[3, 4, 0, 0]])


def test_minclip_learns_from_captions(encoder, quick):
    losses = [row["loss"] for row in zoo.history(zoo.minclip_recipe(quick))["train"]]
    assert len(losses) == quick.clip.steps and sum(losses[-5:]) < sum(losses[:5])
    assert encoder.key == zoo.minclip_recipe(quick).key()


def test_retrieval_accuracy_counts_matching_pairs():
    class OneHot:  # caption i and image i share feature i: perfect retrieval, unless captions are permuted
        def encode_image(self, images):
            return torch.eye(4)[images[:, 0, 0, 0].long()]

        def encode(self, captions):
            return None, torch.eye(4)[[int(c) for c in captions]]

    images = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 3, 2, 2)
    assert retrieval_accuracy(OneHot(), images, ["0", "1", "2", "3"]) == 1.0
    assert retrieval_accuracy(OneHot(), images, ["1", "0", "2", "3"]) == 0.5


def test_auto_offline_falls_back_to_the_minclip(encoder, quick, monkeypatch, caplog):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with caplog.at_level(logging.INFO, logger="tcic_lib"):
        auto = zoo.text_encoder("auto", quick)
    assert auto.key == encoder.key and "mini-CLIP" in caplog.text


def test_missing_pretrained_weights_are_reported(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TCIC_CLIP_WEIGHTS", str(tmp_path / "absent.pt"))
    with pytest.raises(MissingWeightsError, match="TCIC_CLIP_WEIGHTS"):
        load_text_encoder("clip:ViT-B-32/openai")
    with pytest.raises(ValueError, match="unknown text encoder"):
        load_text_encoder("bert")
    with pytest.raises(ValueError, match="zoo.text_encoder"):
        load_text_encoder("minclip")


@pytest.mark.slow
def test_pretrained_path_through_env_file(monkeypatch, tmp_path):
    """A randomly initialised ViT-B-32 saved to disk loads through $TCIC_CLIP_WEIGHTS."""
    import open_clip

    reference = open_clip.create_model("ViT-B-32-quickgelu", pretrained=None)
    path = tmp_path / "vit_b_32.pt"
    torch.save(reference.state_dict(), path)
    monkeypatch.setenv("TCIC_CLIP_WEIGHTS", str(path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = load_text_encoder("auto")
    assert encoder.name.startswith("clip:ViT-B-32/openai") and encoder.dim == 512
    tokens, pooled = encoder.encode(["a photo of a cat"])
    assert tokens.shape == (1, 77, 512)
    with torch.no_grad():
        assert torch.allclose(pooled, reference.eval().encode_text(tokenize(["a photo of a cat"])), atol=1e-4)


@pytest.mark.parametrize("caption", ["", "a dotted blue circle " * 500, "un carré rayé près du 猫 🐈 — Ünïcödé"])
def test_odd_captions_round_trip_through_a_tcic_file(encoder, caption, caplog):
    from tcic_lib.bitstream import decode, encode, unpack
    from tcic_lib.tcic import TCIC

    torch.manual_seed(0)
    model = TCIC(8, 12, hyper_stages=1, fusion="ssa", text_dim=encoder.dim).eval()
    model.update(force=True)
    x = torch.rand(3, 32, 40)
    with caplog.at_level(logging.WARNING):
        data = encode(model, x, caption)
        x_hat = decode(model, data, text_encoder=encoder)
    assert unpack(data).caption == caption and x_hat.shape == x.shape and torch.isfinite(x_hat).all()
    if len(caption) > 1000:
        assert "truncat" in caplog.text  # over CLIP's 77 tokens: the decoder reads the first 77, and says so


def test_captions_over_the_file_limit_are_refused(encoder):
    from tcic_lib.bitstream import encode
    from tcic_lib.tcic import TCIC

    model = TCIC(8, 12, hyper_stages=1, fusion="ssa", text_dim=encoder.dim).eval()
    with pytest.raises(ValueError, match="caption"):
        encode(model, torch.rand(3, 16, 16), "x" * 70_000)
