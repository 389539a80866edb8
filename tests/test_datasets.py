"""Loaders for real caption datasets, on tiny fixtures in each published on-disk layout."""

import json

import numpy as np
import pytest
from PIL import Image

from tcic_lib.data import DatasetLayoutError, caption_folder, coco_captions, cub200, oxford_flowers


def _image(path, shape=(20, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (*shape, 3), dtype=np.uint8)).save(path)


def test_caption_folder(tmp_path):
    _image(tmp_path / "a.png")
    (tmp_path / "a.txt").write_text("a red bird\na small red bird\n")
    _image(tmp_path / "sub" / "b.jpg")
    (tmp_path / "sub" / "b.txt").write_text("a flower\n")
    _image(tmp_path / "no_caption.png")
    ds = caption_folder(tmp_path, size=16)
    assert len(ds) == 2
    image, caption = ds[0]
    assert image.shape == (3, 16, 16) and caption in ds.captions_of(0)
    assert ds[0][1] == caption  # the same pair every time
    assert caption_folder(tmp_path)[1][0].shape == (3, 20, 30)


def test_cub_layout(tmp_path):
    names = ["001.Black_footed_Albatross/a_1.jpg", "001.Black_footed_Albatross/a_2.jpg", "002.Laysan/b_1.jpg"]
    (tmp_path / "images.txt").write_text("".join(f"{i + 1} {n}\n" for i, n in enumerate(names)))
    (tmp_path / "train_test_split.txt").write_text("1 1\n2 0\n3 1\n")
    for n in names:
        _image(tmp_path / "images" / n)
        text = (tmp_path / "text_c10" / n).with_suffix(".txt")
        text.parent.mkdir(parents=True, exist_ok=True)
        text.write_text("\n".join(f"caption {k} of {n}" for k in range(10)))
    train, test = cub200(tmp_path, "train"), cub200(tmp_path, "test")
    assert len(train) == 2 and len(test) == 1
    assert len(train.captions_of(0)) == 10 and "a_2" in test.captions_of(0)[0]
    with pytest.raises(ValueError, match="splits"):
        cub200(tmp_path, "val")


def test_flowers_layout(tmp_path):
    for k in (1, 2):
        _image(tmp_path / "jpg" / f"image_{k:05d}.jpg")
        text = tmp_path / "text_c10" / "class_00001" / f"image_{k:05d}.txt"
        text.parent.mkdir(parents=True, exist_ok=True)
        text.write_text("this flower has pink petals\n")
    ds = oxford_flowers(tmp_path, size=8)
    assert len(ds) == 2 and ds[1][0].shape == (3, 8, 8)


def test_coco_layout(tmp_path):
    _image(tmp_path / "train2017" / "000000000001.jpg")
    annotations = {
        "images": [{"id": 1, "file_name": "000000000001.jpg"}],
        "annotations": [{"image_id": 1, "caption": "A cat on a mat. "}, {"image_id": 1, "caption": "a cat"}],
    }
    (tmp_path / "captions.json").write_text(json.dumps(annotations))
    ds = coco_captions(tmp_path / "train2017", tmp_path / "captions.json")
    assert ds.captions_of(0) == ["A cat on a mat.", "a cat"]


def test_clear_errors_for_missing_or_malformed_roots(tmp_path):
    with pytest.raises(DatasetLayoutError, match="images.txt"):
        cub200(tmp_path)
    with pytest.raises(DatasetLayoutError, match="jpg"):
        oxford_flowers(tmp_path)
    with pytest.raises(DatasetLayoutError, match="sidecar"):
        caption_folder(tmp_path)
    (tmp_path / "bad.json").write_text('{"images": []}')
    (tmp_path / "imgs").mkdir()
    with pytest.raises(DatasetLayoutError, match="not a COCO captions file"):
        coco_captions(tmp_path / "imgs", tmp_path / "bad.json")
    (tmp_path / "x.png").write_bytes(b"not a png")
    (tmp_path / "x.txt").write_text("a caption")
    with pytest.raises(ValueError, match="not a readable image"):
        caption_folder(tmp_path)[0]


def test_tcic_train_on_a_captioned_folder(tmp_path, monkeypatch, capsys):
    from PIL import Image

    from tcic_lib import cli
    from tcic_lib.data import open_dataset
    from tcic_lib.checkpoint import load_checkpoint

    monkeypatch.setenv("TCIC_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    for i in range(24):
        Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(tmp_path / f"img{i}.png")
        (tmp_path / f"img{i}.txt").write_text(f"picture number {i}\nanother caption of {i}\n")
    train, val = (open_dataset("folder", tmp_path, split, 32) for split in ("train", "val"))
    assert len(train) + len(val) == 24 and len(val) > 0
    assert not {p for p, _ in train.items} & {p for p, _ in val.items}
    out = tmp_path / "tcic.pt"
    assert cli.main(["train", "--model", "tcic", "--profile", "quick", "--steps", "2", "--data", "folder",
                     "--data-root", str(tmp_path), "--out", str(out), "--quiet"]) == 0
    assert load_checkpoint(out)["step"] == 2 and "step 2" in capsys.readouterr().out
    assert cli.main(["train", "--data", "cub200", "--profile", "quick", "--out", str(out)]) == 2  # needs --data-root
