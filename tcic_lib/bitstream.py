"""A versioned file format for one coded image, and `encode` / `decode` around it.

Layout (big-endian; "varint" is unsigned LEB128, at most 4 bytes)::

    magic "TCIC" | version u8 | flags u8 | height u16 | width u16
    architecture id (4 bytes) | weights fingerprint (8 bytes) | symbol check u16
    caption length varint | caption (UTF-8)          (only when the caption flag is set)
    string count u8 | per string: length varint | bytes
    CRC32 of everything before it (u32)

About 30 bytes of header: on the course's 64x64 scenes every byte is 0.002 bpp.

Two checks, for two kinds of failure. The CRC32 catches damaged bytes. The **symbol check**
(a CRC-16 of the symbols the encoder coded, `models.symbol_check`) catches a decoder that read
intact bytes with other tables than the encoder used and drifted out of step: its symbols, and
the image, would be garbage with the CRC32 intact. The course's codecs compute those tables in
integers (`tcic_lib.exact`), so this should never fire; if it does, `decode` raises
`BitstreamError` instead of returning an image. It costs 16 bits per file: 0.004 bpp on a 64x64
scene, about a sixth of the ~100 payload bits at the ultra-low rates (reported in `bpp_total`,
not in the payload's `bpp_latent`), and nothing measurable on a photo.

Every length is checked against what is left of the file before anything is allocated, so
a damaged or hostile file raises `BitstreamError` and nothing else.

Taught in notebooks/01_entropy_models.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass

import torch

from .exact import InexactError
from .images import as_image_tensor
from .models import Codec

MAGIC = b"TCIC"
VERSION = 3  # 2: z and y in one rANS string; 3: the symbol check
MAX_SIDE = 16384  # largest image side a file may declare (pixels)
MAX_PIXELS = 64 * 2**20  # largest image area a file may declare
MAX_CAPTION_BYTES = 65535
MAX_VARINT_BYTES = 4  # lengths below 2**28
FLAG_CAPTION = 0x01
_HEAD = struct.Struct(">4sBBHH")
_CRC = struct.Struct(">I")
_CHECK = struct.Struct(">H")


class BitstreamError(ValueError):
    """A file that is not a valid bitstream for this model."""


@dataclass(frozen=True)
class Header:
    """What a file says about itself, and where its bytes go."""

    version: int
    height: int
    width: int
    arch_id: bytes
    fingerprint: bytes
    symbol_check: int  # CRC-16 of the coded symbols (`models.symbol_check`)
    caption: str | None
    strings: tuple[bytes, ...]
    total_bytes: int

    @property
    def latent_bytes(self) -> int:
        return sum(len(s) for s in self.strings)

    @property
    def caption_bytes(self) -> int:
        return len(self.caption.encode("utf-8")) if self.caption is not None else 0

    @property
    def num_pixels(self) -> int:
        return self.height * self.width

    @property
    def bpp_latent(self) -> float:
        """Entropy-coded latent bits per pixel."""
        return 8 * self.latent_bytes / self.num_pixels

    @property
    def bpp_total(self) -> float:
        """Whole-file bits per pixel: header, caption, latents and checksum."""
        return 8 * self.total_bytes / self.num_pixels


def arch_id(model: Codec) -> bytes:
    """4 bytes naming the architecture and its sizes."""
    return hashlib.sha256(model.arch.encode()).digest()[:4]


def model_fingerprint(model: Codec) -> bytes:
    """8 bytes identifying the weights and coder tables, so a file is never decoded by the wrong model.

    Hashing every weight takes a while for a large model, so the digest is kept on the model and
    reused until a tensor changes (torch counts in-place writes: training, `load_state_dict`, `update`).
    """
    tensors = [*model.parameters(), *model.buffers()]
    versions = tuple((id(t), t._version, t.shape) for t in tensors)  # a replaced buffer is a new tensor
    cached = getattr(model, "_tcic_fingerprint", None)
    if cached is not None and cached[0] == versions:
        return cached[1]
    digest = hashlib.sha256(model.arch.encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    model._tcic_fingerprint = (versions, digest.digest()[:8])
    return model._tcic_fingerprint[1]


def _check_size(height: int, width: int) -> None:
    if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE) or height * width > MAX_PIXELS:
        raise ValueError(f"image size {height}x{width} outside the supported range "
                         f"(1..{MAX_SIDE} per side, at most {MAX_PIXELS} pixels)")


def _caption_bytes(caption: str | None) -> bytes:
    if caption is None:
        return b""
    if not isinstance(caption, str):
        raise ValueError(f"caption must be a string, got {type(caption).__name__}")
    data = caption.encode("utf-8")
    if len(data) > MAX_CAPTION_BYTES:
        raise ValueError(f"caption is {len(data)} bytes of UTF-8; a file holds at most {MAX_CAPTION_BYTES}")
    return data


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def pack(header: Header) -> bytes:
    """Serialise a header and its strings (the inverse of `unpack`)."""
    flags = FLAG_CAPTION if header.caption is not None else 0
    parts = [_HEAD.pack(MAGIC, VERSION, flags, header.height, header.width), header.arch_id, header.fingerprint,
             _CHECK.pack(header.symbol_check)]
    if header.caption is not None:
        caption = _caption_bytes(header.caption)
        parts += [varint(len(caption)), caption]
    parts.append(struct.pack(">B", len(header.strings)))
    for string in header.strings:
        parts += [varint(len(string)), string]
    body = b"".join(parts)
    return body + _CRC.pack(zlib.crc32(body))


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int, what: str) -> bytes:
        if n > len(self.data) - self.pos:
            raise BitstreamError(f"truncated file: {what} needs {n} bytes, {len(self.data) - self.pos} left")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str, what: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))

    def varint(self, what: str) -> int:
        value = 0
        for i in range(MAX_VARINT_BYTES):
            (byte,) = self.take(1, what)
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                return value
        raise BitstreamError(f"{what}: length field longer than {MAX_VARINT_BYTES} bytes")


def unpack(data: bytes) -> Header:
    """Parse and validate a file; raise `BitstreamError` for anything malformed."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BitstreamError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < _HEAD.size + _CRC.size:
        raise BitstreamError(f"file too short to be a TCIC bitstream ({len(data)} bytes)")
    magic, version, flags, height, width = _HEAD.unpack_from(data)
    if magic != MAGIC:
        raise BitstreamError(f"not a TCIC bitstream (magic {magic!r}, expected {MAGIC!r})")
    if version != VERSION:
        raise BitstreamError(f"bitstream version {version} is not supported (this library reads version {VERSION}; "
                             "code the image again with this version)")
    (crc,) = _CRC.unpack_from(data, len(data) - _CRC.size)
    if zlib.crc32(data[: -_CRC.size]) != crc:
        raise BitstreamError("checksum mismatch: the file is damaged or truncated")
    if flags & ~FLAG_CAPTION:
        raise BitstreamError(f"unknown flags 0x{flags:02x}")
    try:
        _check_size(height, width)
    except ValueError as err:
        raise BitstreamError(str(err)) from None
    reader = _Reader(data[: -_CRC.size])
    reader.pos = _HEAD.size
    arch = reader.take(4, "architecture id")
    fingerprint = reader.take(8, "weights fingerprint")
    (check,) = reader.unpack(">H", "symbol check")
    caption = None
    if flags & FLAG_CAPTION:
        caption_len = reader.varint("caption length")
        if caption_len > MAX_CAPTION_BYTES:
            raise BitstreamError(f"caption of {caption_len} bytes exceeds the {MAX_CAPTION_BYTES}-byte limit")
        try:
            caption = reader.take(caption_len, "caption").decode("utf-8")
        except UnicodeDecodeError:
            raise BitstreamError("caption is not valid UTF-8") from None
    (count,) = reader.unpack(">B", "string count")
    if not 1 <= count <= 8:
        raise BitstreamError(f"implausible number of entropy-coded strings: {count}")
    strings = []
    for i in range(count):
        strings.append(reader.take(reader.varint(f"length of string {i}"), f"string {i}"))
    if reader.pos != len(reader.data):
        raise BitstreamError(f"{len(reader.data) - reader.pos} unexpected bytes after the last string")
    return Header(version, height, width, arch, fingerprint, check, caption, tuple(strings), len(data))


STORED = "<the caption stored in the file>"  # decode()'s default; compared by identity


@torch.no_grad()
def encode(model: Codec, image, caption: str | None = None, text_encoder=None) -> bytes:
    """Code one image (PIL image, array, or (3, H, W) tensor in [0, 1]) into a file's bytes.

    The caption, when given, is stored in the file for the decoder. A decoder-side model (TCIC)
    never reads it here; only a conditional-coding model (the caption at both ends) needs the
    `text_encoder` to code.
    """
    return encode_batch(model, [image], [caption], text_encoder)[0]


@torch.no_grad()
def encode_batch(model: Codec, images: list, captions: list | None = None, text_encoder=None) -> list[bytes]:
    """Code several images (each as `encode` takes them), the transforms run once per image size."""
    xs = [as_image_tensor(image) for image in images]
    captions = [None] * len(xs) if captions is None else list(captions)
    for x, caption in zip(xs, captions):
        _check_size(*x.shape[1:])
        _caption_bytes(caption)  # validate before the expensive part
    if model.encoder_reads_captions and text_encoder is None:
        raise ValueError(f"{model.arch} codes with the caption: pass the text_encoder it was trained with")
    model.eval()
    identity = arch_id(model), model_fingerprint(model)
    files: list[bytes | None] = [None] * len(xs)
    for size, group in _by_size([tuple(x.shape[1:]) for x in xs]).items():
        text = model.condition(text_encoder, [captions[i] for i in group]) if model.encoder_reads_captions else None
        batch = torch.stack([xs[i] for i in group]).to(*model.placement)
        coded = model.compress(batch, text)
        for j, i in enumerate(group):
            strings = tuple(s[j] for s in coded["strings"])
            files[i] = pack(Header(VERSION, *size, *identity, coded["checks"][j], captions[i], strings, 0))
    return files


def _by_size(sizes: list[tuple[int, int]]) -> dict[tuple[int, int], list[int]]:
    """Indices grouped by image size, in first-seen order: one batch through the transforms per size."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, size in enumerate(sizes):
        groups.setdefault(size, []).append(i)
    return groups


def _checked(model: Codec, data: bytes) -> Header:
    """The file's header, once it is known to come from this very model."""
    header = unpack(data)
    if header.arch_id != arch_id(model):
        raise BitstreamError(f"file was made by another architecture (id {header.arch_id.hex()}); "
                             f"this model is {model.arch} (id {arch_id(model).hex()})")
    if header.fingerprint != model_fingerprint(model):
        raise BitstreamError(f"file was made by a {model.arch} with different weights "
                             f"(fingerprint {header.fingerprint.hex()}, this model {model_fingerprint(model).hex()})")
    if len(header.strings) != model.num_strings:
        raise BitstreamError(f"{model.arch} expects {model.num_strings} strings, the file has {len(header.strings)}")
    return header


def _decoder_caption(model: Codec, header: Header, caption):
    if model.encoder_reads_captions and caption is not STORED and caption != header.caption:
        raise ValueError(f"{model.arch} coded this file with its stored caption: decode with that one")
    return header.caption if caption is STORED else caption


@torch.no_grad()
def decode(model: Codec, data: bytes, caption: str | None = STORED, text_encoder=None) -> torch.Tensor:
    """Decode a file into a (3, H, W) tensor in [0, 1].

    For a model that reads captions (TCIC), `text_encoder` turns the caption into features: by
    default the caption stored in the file (none if it has none); a string decodes with that
    caption instead and `None` with no caption (decode-time experiments).
    """
    return decode_batch(model, [data], [caption], text_encoder)[0]


@torch.no_grad()
def decode_batch(model: Codec, files: list[bytes], captions: list | None = None, text_encoder=None) -> list[torch.Tensor]:
    """Decode several files of one model, the synthesis run once per image size (much faster than one by one).

    `captions[i]` is what file i's decoder is given, as in `decode` (default: each file's own).
    """
    headers = [_checked(model, data) for data in files]
    captions = [STORED] * len(files) if captions is None else list(captions)
    if model.reads_captions and text_encoder is None:
        raise ValueError(f"{model.arch} reads captions: pass the text_encoder it was trained with")
    given = [_decoder_caption(model, h, c) for h, c in zip(headers, captions)]
    model.eval()
    out: list[torch.Tensor | None] = [None] * len(files)
    for size, group in _by_size([(h.height, h.width) for h in headers]).items():
        # the latent shape follows from the image size; it is never read from the file
        shape = (-(-size[0] // model.stride), -(-size[1] // model.stride))
        strings = [[headers[i].strings[k] for i in group] for k in range(model.num_strings)]
        text = model.condition(text_encoder, [given[i] for i in group]) if model.reads_captions else None
        try:
            decoded = model.decompress(strings, shape, text, size=size)
        except InexactError as err:
            raise BitstreamError(f"implausible latents: {err}") from None
        for j, i in enumerate(group):
            if decoded["checks"][j] != headers[i].symbol_check:
                raise BitstreamError(f"file {i}: the decoded symbols fail their check (the decoder read them with other "
                                     "tables than the encoder used): no image is returned rather than a wrong one")
            out[i] = decoded["x_hat"][j].cpu()
    return out


def _with_threads(threads: int, fn, *args):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return fn(*args)
    finally:
        torch.set_num_threads(before)


def decodes_alike(model: Codec, images: list, captions: list | None = None, text_encoder=None,
                  encodings=((64, 2), (1, 1)), decodings=((64, 2), (1, 1)), atol: float = 1e-5) -> int:
    """Code `images` in batches of each (size, threads) of `encodings`, decode every file under each
    (size, threads) of `decodings`, and check that each file gives the same image every time.

    Returns how many (file, decode setting) pairs were checked; raises `BitstreamError` on a desync
    and `AssertionError` on a mismatch. A check a user can run on a new machine (`make bench` does).
    """
    stored = list(captions) if captions is not None and (model.reads_captions or model.encoder_reads_captions) \
        else [None] * len(images)

    def in_batches(fn, items, size):
        return [out for i in range(0, len(items), size) for out in fn(items[i:i + size], stored[i:i + size])]

    pairs = 0
    for size, threads in encodings:
        files = _with_threads(threads, in_batches, lambda xs, cs: encode_batch(model, xs, cs, text_encoder), images, size)
        reference = None
        for d_size, d_threads in decodings:
            decoded = torch.stack(_with_threads(d_threads, in_batches,
                                                lambda fs, cs: decode_batch(model, fs, None, text_encoder), files, d_size))
            reference = decoded if reference is None else reference
            worst = (decoded - reference).abs().max().item()
            if worst > atol:
                raise AssertionError(f"{model.arch}: files coded in batches of {size} ({threads} threads) decode "
                                     f"{worst:.2g} apart in batches of {d_size} ({d_threads} threads)")
            pairs += len(files)
    return pairs
