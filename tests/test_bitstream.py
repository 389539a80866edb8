import io
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from tcic_lib.bitstream import MAX_SIDE, BitstreamError, decode, encode, pack, unpack, varint
from tcic_lib.images import as_image_tensor
from tcic_lib.models import Factorized, Hyperprior


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = Hyperprior(8, 12).eval()
    m.update()
    return m


@pytest.fixture(scope="module")
def image():
    return torch.rand(3, 37, 61, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def data(model, image):
    return encode(model, image, "a small red circle at the top left")


@pytest.mark.parametrize("cls", [Factorized, Hyperprior])
@pytest.mark.parametrize("size", [(37, 61), (1, 1), (64, 64), (65, 3)])
def test_round_trip_equals_model_reconstruction(cls, size):
    torch.manual_seed(0)
    m = cls(8, 12).eval()
    m.update()
    x = torch.rand(3, *size, generator=torch.Generator().manual_seed(2))
    first = decode(m, encode(m, x))
    with torch.no_grad():
        expected = m(x[None])["x_hat"][0].clamp(0, 1)
    assert first.shape == x.shape
    assert torch.equal(first, expected)
    assert torch.equal(decode(m, encode(m, x)), first)  # deterministic


def test_encoding_is_deterministic(model, image, data):
    assert encode(model, image, "a small red circle at the top left") == data


def test_header_fields_and_rates(data, image):
    header = unpack(data)
    assert (header.height, header.width) == image.shape[1:]
    assert header.caption == "a small red circle at the top left"
    assert header.total_bytes == len(data) > header.latent_bytes + header.caption_bytes
    assert header.bpp_total > header.bpp_latent > 0


def test_stored_caption_and_override(model, image):
    no_caption = unpack(encode(model, image))
    assert no_caption.caption is None and no_caption.caption_bytes == 0
    unicode = unpack(encode(model, image, "ein grüner Kreis ◯"))
    assert unicode.caption == "ein grüner Kreis ◯"
    assert unpack(encode(model, image, "")).caption == ""
    long = "a striped square " * 600  # 10,200 characters
    assert unpack(encode(model, image, long)).caption == long


def test_pack_unpack_inverse(data):
    assert pack(unpack(data)) == data


def _expect_error(model, blob, match):
    with pytest.raises(BitstreamError, match=match):
        decode(model, blob)


def test_empty_and_tiny_files(model):
    _expect_error(model, b"", "too short")
    _expect_error(model, b"TCIC", "too short")


def test_wrong_magic(model, data):
    _expect_error(model, b"JPEG" + data[4:], "not a TCIC bitstream")


def test_future_version(model, data):
    _expect_error(model, data[:4] + bytes([99]) + data[5:], "version 99")


@pytest.mark.parametrize("cut", [1, 5, 20, 40])
def test_truncated(model, data, cut):
    _expect_error(model, data[:-cut], "checksum|truncated|too short")


def test_every_single_bit_flip_is_caught(model, data):
    for position in range(0, len(data), max(1, len(data) // 64)):
        for bit in (0, 7):
            broken = bytearray(data)
            broken[position] ^= 1 << bit
            with pytest.raises(BitstreamError):
                decode(model, bytes(broken))


def _with_valid_crc(body: bytes) -> bytes:
    import zlib

    return body + struct.pack(">I", zlib.crc32(body))


def test_absurd_header_fields_with_valid_checksum(model, data):
    body = data[:-4]
    huge = body[:6] + struct.pack(">HH", 65535, 65535) + body[10:]
    _expect_error(model, _with_valid_crc(huge), "outside the supported range")
    zero = body[:6] + struct.pack(">HH", 0, 5) + body[10:]
    _expect_error(model, _with_valid_crc(zero), "outside the supported range")
    header = unpack(data)
    caption_at = 10 + 4 + 8 + 2  # after size, architecture id, fingerprint and symbol check; caption length: 1 byte
    long_caption = body[:caption_at] + varint(60000) + body[caption_at + 1 :]
    _expect_error(model, _with_valid_crc(long_caption), "truncated")
    first_length_at = caption_at + 1 + header.caption_bytes + 1
    old_length = len(varint(len(header.strings[0])))
    big_string = body[:first_length_at] + varint(2**27) + body[first_length_at + old_length :]
    _expect_error(model, _with_valid_crc(big_string), "truncated")
    endless = body[:first_length_at] + b"\xff" * 5 + body[first_length_at + old_length :]
    _expect_error(model, _with_valid_crc(endless), "longer than")


def test_header_is_small(model, image):
    header = unpack(encode(model, image))
    assert header.total_bytes - header.latent_bytes <= 32


def test_file_from_another_model(model, image):
    other_size = Hyperprior(8, 16).eval()
    other_size.update()
    _expect_error(other_size, encode(model, image), "another architecture.*Hyperprior\\(N=8,M=16")
    torch.manual_seed(5)
    other_weights = Hyperprior(8, 12).eval()
    other_weights.update()
    _expect_error(other_weights, encode(model, image), "different weights")
    factorized = Factorized(8, 12).eval()
    factorized.update()
    _expect_error(factorized, encode(model, image), "another architecture")


def test_not_bytes(model):
    _expect_error(model, "TCIC", "expected bytes")


def _png_bytes(array: np.ndarray, mode: str | None = None) -> Image.Image:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    buffer.seek(0)
    return Image.open(buffer)


def test_image_kinds(model):
    rng = np.random.default_rng(0)
    grey = _png_bytes(rng.integers(0, 255, (9, 13), dtype=np.uint8))
    rgba = _png_bytes(rng.integers(0, 255, (9, 13, 4), dtype=np.uint8))
    deep = _png_bytes(rng.integers(0, 65535, (9, 13), dtype=np.uint16))
    for pil in (grey, rgba, deep):
        x = as_image_tensor(pil)
        assert x.shape == (3, 9, 13) and 0 <= x.min() and x.max() <= 1
        assert decode(model, encode(model, pil)).shape == (3, 9, 13)
    assert as_image_tensor(deep).max() > 0.9  # scaled from the full 16-bit range, not clipped at 255


def test_bad_images_raise_value_error(model):
    with pytest.raises(ValueError, match="channels"):
        as_image_tensor(torch.rand(5, 4, 4))
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        as_image_tensor(torch.rand(3, 4, 4) * 3)
    with pytest.raises(ValueError, match="no pixels"):
        as_image_tensor(torch.rand(3, 0, 4))
    with pytest.raises(ValueError, match="supported range"):
        encode(model, torch.zeros(3, MAX_SIDE + 1, 1))
    with pytest.raises(ValueError, match="caption"):
        encode(model, torch.zeros(3, 4, 4), "x" * 70000)
