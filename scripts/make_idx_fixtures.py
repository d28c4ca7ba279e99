#!/usr/bin/python3
"""make_idx_fixtures.py - write the small IDX files that tests/test_idx.c reads.

Writes tests/fixtures/idx/: a good images/labels pair (plain and gzip'd) and
one file per malformed case the reader must refuse. Standard library only;
the output is deterministic (gzip mtime 0), so rerunning it leaves git clean.

    /usr/bin/python3 scripts/make_idx_fixtures.py

The good images hold GOOD_N images of GOOD_H x GOOD_W pixels with
pixel(i, r, c) = (61*i + 17*r + 5*c + 7) % 256, and the labels are
GOOD_LABELS; tests/test_idx.c recomputes both, keep them in step.
"""

import gzip
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                   "fixtures", "idx")

GOOD_N, GOOD_H, GOOD_W = 5, 4, 3
GOOD_LABELS = [9, 0, 3, 7, 1]


def header(type_byte, dims, ndim=None):
    """IDX header: two zero bytes, type, dimension count, big-endian dims."""
    if ndim is None:
        ndim = len(dims)
    return bytes([0, 0, type_byte, ndim]) + b"".join(
        struct.pack(">I", d) for d in dims)


def good_pixels():
    return bytes((61 * i + 17 * r + 5 * c + 7) % 256
                 for i in range(GOOD_N)
                 for r in range(GOOD_H)
                 for c in range(GOOD_W))


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    images = header(0x08, [GOOD_N, GOOD_H, GOOD_W]) + good_pixels()
    labels = header(0x08, [GOOD_N]) + bytes(GOOD_LABELS)

    # Good files.
    write("good-images.idx", images)
    write("good-labels.idx", labels)
    write("good-images.idx.gz", gz(images))
    write("good-labels.idx.gz", gz(labels))

    # Header errors. (bad magic must not start 1f 8b, or zlib takes it for
    # gzip.)
    write("bad-magic.idx", b"\x12\x34" + images[2:])
    float_body = bytes(4 * GOOD_N * GOOD_H * GOOD_W)
    write("type-float.idx",
          header(0x0D, [GOOD_N, GOOD_H, GOOD_W]) + float_body)
    write("type-unknown.idx",
          header(0x42, [GOOD_N, GOOD_H, GOOD_W]) + good_pixels())
    write("bad-ndim.idx",
          header(0x08, [GOOD_N, GOOD_H * GOOD_W]) + good_pixels())
    write("zero-dim.idx", header(0x08, [GOOD_N, 0, GOOD_W]))
    write("huge-dim.idx", header(0x08, [GOOD_N, 0x80000000, GOOD_W]))
    # 0x7fffffff^3 ~ 2^93: a naive product overflows even 64 bits.
    write("overflow-dims.idx", header(0x08, [0x7FFFFFFF] * 3) + b"\x00" * 8)
    write("truncated-header.idx", header(0x08, [GOOD_N, GOOD_H, GOOD_W])[:6])
    write("empty.idx", b"")

    # Body size errors.
    write("truncated.idx", header(0x08, [60000, 28, 28]) + bytes(1234))
    # Exactly the 2^31-byte cap: a legal header whose body is missing; the
    # reader must not allocate 2 GiB before finding that out.
    write("big-claim.idx", header(0x08, [2048, 1024, 1024]) + bytes(10))
    write("trailing.idx", images + b"\xde\xad\xbe")
    write("trailing.idx.gz", gz(images + b"\xde\xad\xbe"))

    # Label errors.
    bad = [1, 2, 3, 4, 5, 37, 6, 7]
    write("labels-range.idx", header(0x08, [len(bad)]) + bytes(bad))
    write("labels-4.idx", header(0x08, [4]) + bytes(GOOD_LABELS[:4]))

    # Corrupt gzip streams. gzip.compress with mtime=0 writes a 10-byte
    # header (no file name), so byte 10 starts the deflate data.
    good_gz = gz(images)
    corrupt = bytearray(good_gz)
    corrupt[10] |= 0x07  # BFINAL=1, BTYPE=11: a reserved block type
    write("corrupt.idx.gz", bytes(corrupt))
    bad_crc = bytearray(good_gz)
    bad_crc[-8] ^= 0x01  # CRC-32 is the trailer's first 4 bytes
    write("bad-crc.idx.gz", bytes(bad_crc))
    write("truncated.idx.gz", good_gz[:len(good_gz) // 2])
    # The whole body inflates; only the 8-byte trailer is missing.
    write("truncated-trailer.idx.gz", good_gz[:-8])


if __name__ == "__main__":
    main()
