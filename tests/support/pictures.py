"""What a rendered graph shows: the colours of a PNG's pixels, decoded with zlib alone."""

from __future__ import annotations

import struct
import zlib
from collections import Counter

CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # PNG colour type -> samples per pixel


def _paeth(left: int, up: int, corner: int) -> int:
    estimate = left + up - corner
    nearest = min((abs(estimate - left), 0), (abs(estimate - up), 1), (abs(estimate - corner), 2))
    return (left, up, corner)[nearest[1]]


def pixels(png: bytes) -> list[list[str]]:
    """The picture as rows of '#rrggbb' (8-bit, non-interlaced PNGs: what cairo and rrdtool
    write; alpha and the palette index are ignored)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", png[:16]
    chunks: dict[bytes, bytes] = {}
    position = 8
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        chunks[kind] = chunks.get(kind, b"") + png[position + 8 : position + 8 + length]
        position += 12 + length
    width, height, depth, kind, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert depth == 8 and interlace == 0 and kind in CHANNELS, (depth, kind, interlace)
    size = CHANNELS[kind]
    stride = width * size
    raw = zlib.decompress(chunks[b"IDAT"])
    palette = chunks.get(b"PLTE", b"")
    rows: list[list[str]] = []
    previous = bytearray(stride)
    for row in range(height):
        start = row * (stride + 1)
        kind_of_filter, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - size] if i >= size else 0
            up = previous[i]
            corner = previous[i - size] if i >= size else 0
            predictor = (0, left, up, (left + up) // 2, _paeth(left, up, corner))[kind_of_filter]
            line[i] = (line[i] + predictor) & 0xFF
        decoded = []
        for i in range(0, stride, size):
            if kind == 3:
                rgb = palette[3 * line[i] : 3 * line[i] + 3]
            elif kind in (0, 4):
                rgb = bytes([line[i]] * 3)
            else:
                rgb = line[i : i + 3]
            decoded.append("#" + bytes(rgb).hex())
        rows.append(decoded)
        previous = line
    return rows


def colours(png: bytes) -> Counter[str]:
    """How many pixels have each colour, as '#rrggbb'."""
    return Counter(colour for row in pixels(png) for colour in row)


def column_heights(png: bytes, palette: set[str]) -> list[int]:
    """For each column of the picture, how many of its pixels have a colour of `palette`:
    the height of the areas drawn in those colours there."""
    rows = pixels(png)
    return [sum(row[x] in palette for row in rows) for x in range(len(rows[0]))]
