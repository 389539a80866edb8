"""Property-based robustness: mutated files raise BitstreamError and nothing else, quickly."""

import struct
import zlib

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcic_lib.bitstream import BitstreamError, decode, encode
from tcic_lib.models import Hyperprior

torch.manual_seed(0)
MODEL = Hyperprior(8, 12, hyper_stages=1).eval()
MODEL.update()
VALID = encode(MODEL, torch.rand(3, 23, 41, generator=torch.Generator().manual_seed(3)), "a dotted blue square")
FUZZ = settings(max_examples=250, deadline=2000, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


def _refresh_crc(body: bytes) -> bytes:
    return body + struct.pack(">I", zlib.crc32(body))


def _decodes_or_rejects(blob: bytes) -> None:
    try:
        x = decode(MODEL, blob)
    except BitstreamError:
        return
    assert x.shape[0] == 3  # a mutation that left a valid file decodes to an image


@st.composite
def mutations(draw):
    data = bytearray(VALID)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["truncate", "flip", "splice", "overwrite"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "truncate":
            del data[pos:]
        elif kind == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "splice":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=8))
            data[pos : pos + len(chunk)] = chunk
    return bytes(data)


@FUZZ
@given(mutations())
def test_mutated_files_are_rejected(blob):
    _decodes_or_rejects(blob)


@FUZZ
@given(mutations())
def test_mutated_headers_with_a_valid_checksum_are_rejected(blob):
    """The same mutations with the CRC recomputed, so the parser itself is exercised."""
    _decodes_or_rejects(_refresh_crc(blob[:-4]) if len(blob) > 4 else blob)


@pytest.mark.parametrize("size", [(1, 4000), (4000, 1), (1, 1), (3, 16384)])
def test_extreme_aspect_ratios(size):
    x = torch.rand(3, *size)
    assert decode(MODEL, encode(MODEL, x)).shape == x.shape
