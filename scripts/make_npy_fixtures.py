#!/usr/bin/python3
"""make_npy_fixtures.py - write the .npy files that tests/test_npy.c reads.

Writes tests/fixtures/npy/: good files written by numpy itself (np.save and
np.lib.format.write_array) in every dtype tgsage reads, both byte orders, C
and Fortran order, 0-D to 8-D, empty arrays and format versions 1.0, 2.0 and
3.0; a few good headers written by hand (other key order, double quotes,
odd whitespace, Python 2 long suffixes); and one file per malformed or
unsupported case the reader must refuse. Uses Debian's numpy (python3-numpy);
the output is deterministic, so rerunning it leaves git clean.

    /usr/bin/python3 scripts/make_npy_fixtures.py

Values: element i of the flat C-order array is value(dtype, i) below;
tests/test_npy.c recomputes them, and its GOOD table lists the same files
with the same dtypes and shapes as GOOD here: keep the two in step.
"""

import io
import os
import struct

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                   "fixtures", "npy")

# (file, descr, shape, fortran, version); version None means np.save.
GOOD = [
    ("u1-1d.npy", "|u1", (10,), False, None),
    ("u1-2d-fortran.npy", "|u1", (3, 5), True, None),
    ("i4-le-2d.npy", "<i4", (3, 4), False, None),
    ("i4-be-2d.npy", ">i4", (3, 4), False, None),
    ("i4-be-2d-fortran.npy", ">i4", (3, 4), True, None),
    ("i8-le-3d.npy", "<i8", (2, 3, 4), False, None),
    ("i8-be-3d.npy", ">i8", (2, 3, 4), False, None),
    ("f4-le-2d.npy", "<f4", (3, 5), False, None),
    ("f4-be-2d.npy", ">f4", (3, 5), False, None),
    ("f4-le-3d-fortran.npy", "<f4", (2, 3, 4), True, None),
    ("f8-le-4d.npy", "<f8", (2, 3, 2, 2), False, None),
    ("f8-be-4d.npy", ">f8", (2, 3, 2, 2), False, None),
    ("f8-be-4d-fortran.npy", ">f8", (2, 3, 2, 2), True, None),
    ("f8-0d.npy", "<f8", (), False, None),
    ("i8-8d.npy", "<i8", (1, 2, 1, 2, 1, 2, 1, 3), False, None),
    ("f4-empty.npy", "<f4", (0,), False, None),
    ("i4-empty-2d.npy", "<i4", (3, 0), False, None),
    ("f8-empty-3d.npy", "<f8", (2, 0, 3), True, None),  # numpy: C order
    ("f4-v2.npy", "<f4", (2, 3), False, (2, 0)),
    ("i8-be-v3-fortran.npy", ">i8", (3, 2), True, (3, 0)),
]


def value(kind, i):
    """Element i (flat C order) of a good array of numpy kind 'u','i','f'
    and item size 1, 4 or 8; integers wrap to cover the whole range."""
    k, size = kind
    if k == "u":
        return (37 * i + 11) % 256
    if k == "i":
        bits = 8 * size
        mult = 2654435761 if size == 4 else 0x9E3779B97F4A7C15
        v = (i * mult + 12345) % (1 << bits)
        return v - (1 << bits) if v >= 1 << (bits - 1) else v
    return (i * 0.5 - 3.0) / 7.0  # exact in binary up to the division


def good_array(descr, shape, fortran):
    dt = np.dtype(descr)
    n = int(np.prod(shape, dtype=np.int64))
    flat = [value((dt.kind, dt.itemsize), i) for i in range(n)]
    a = np.array(flat, dtype=dt).reshape(shape)  # C order
    return np.asfortranarray(a) if fortran else a


def npy_bytes(a, version=None):
    f = io.BytesIO()
    if version is None:
        np.save(f, a, allow_pickle=True)
    else:
        np.lib.format.write_array(f, a, version=version, allow_pickle=False)
    return f.getvalue()


def preamble(header, version=(1, 0), hlen=None):
    """Magic, version and the header length field (of header unless hlen)."""
    if hlen is None:
        hlen = len(header)
    fmt = "<H" if version[0] == 1 else "<I"
    return b"\x93NUMPY" + bytes(version) + struct.pack(fmt, hlen)


def hand(dict_text, body=b"", version=(1, 0), end=b"\n"):
    """A file with a hand-written header dict, padded like numpy's."""
    text = dict_text.encode("latin-1")
    pad = 64 - (len(text) + len(end) + 10) % 64
    header = text + b" " * (pad % 64) + end
    return preamble(header, version) + header + body


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        if name.endswith(".npy"):
            os.remove(os.path.join(OUT, name))

    # Good files written by numpy.
    for name, descr, shape, fortran, version in GOOD:
        a = good_array(descr, shape, fortran)
        assert bool(a.flags.f_contiguous and not a.flags.c_contiguous) == \
            (fortran and a.ndim > 1 and a.size > 1), name
        write(name, npy_bytes(a, version))

    # Good headers written by hand, body of good_array("<i4", (2, 3)).
    body = good_array("<i4", (2, 3), False).tobytes()
    write("hand-key-order.npy",
          hand("{'shape': (2, 3), 'fortran_order': False, 'descr': '<i4'}",
               body))
    write("hand-double-quotes.npy",
          hand('{"descr": "<i4", "fortran_order": False, "shape": (2,3),}',
               body))
    write("hand-whitespace.npy",
          hand("\t{ 'descr' :'<i4' ,\n 'fortran_order':False,\r\n"
               "  'shape' : ( 2 ,\t3 , ) }", body))
    write("hand-py2-long.npy",
          hand("{'descr': '<i4', 'fortran_order': False, 'shape': (2L, 3L), }",
               body))
    # No padding at all: the header is just the dict and a newline.
    text = b"{'descr':'<i4','fortran_order':False,'shape':(2,3)}\n"
    write("hand-unpadded.npy", preamble(text) + text + body)
    # Fortran order where it makes no difference (numpy never writes these).
    write("hand-1d-fortran.npy",
          hand("{'descr': '<i4', 'fortran_order': True, 'shape': (6,), }",
               body))
    write("hand-empty-fortran.npy",
          hand("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 0, 3), }"))

    # Preamble errors.
    good = npy_bytes(good_array("<f4", (3, 4), False))
    assert len(good) == 128 + 48  # header, body offsets used below
    write("bad-magic.npy", b"\x93NUMPX" + good[6:])
    write("not-npy.npy", b"hello, world\n")
    write("empty.npy", b"")
    write("short-preamble.npy", good[:7])
    write("short-length.npy", good[:9])
    write("version-1-1.npy", good[:6] + b"\x01\x01" + good[8:])
    write("version-4-0.npy", good[:6] + b"\x04\x00" + good[8:])
    big = b"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }"
    big += b" " * (20000 - len(big) - 1) + b"\n"
    write("header-too-long.npy",
          preamble(big, (2, 0)) + big + good[128:])
    write("header-truncated.npy", good[:60])
    write("no-newline.npy", good[:127] + b" " + good[128:])

    # Malformed dicts (each body is right for the header it would have).
    f4_12 = good[128:]
    bad_dicts = {
        "not-dict.npy": "[('descr', '<f4')]",
        "dict-unclosed.npy":
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), ",
        "dict-no-colon.npy":
            "{'descr' '<f4', 'fortran_order': False, 'shape': (3, 4), }",
        "dict-no-comma.npy":
            "{'descr': '<f4' 'fortran_order': False, 'shape': (3, 4), }",
        "dict-garbage-after.npy":
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } x",
        "dict-unquoted-key.npy":
            "{descr: '<f4', 'fortran_order': False, 'shape': (3, 4), }",
        "string-unterminated.npy":
            "{'descr': '<f4, 'fortran_order': False, 'shape': (3, 4), }",
        "string-escape.npy":
            "{'descr': '<f\\x34', 'fortran_order': False, 'shape': (3, 4), }",
        "missing-key.npy": "{'descr': '<f4', 'fortran_order': False, }",
        "duplicate-key.npy":
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), "
            "'descr': '<f4', }",
        "unknown-key.npy":
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), "
            "'extra': 1, }",
        "fortran-not-bool.npy":
            "{'descr': '<f4', 'fortran_order': 0, 'shape': (3, 4), }",
        "descr-not-string.npy":
            "{'descr': 5, 'fortran_order': False, 'shape': (3, 4), }",
        "shape-negative.npy":
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3, -4), }",
        "shape-float.npy":
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4.0), }",
        "shape-string.npy":
            "{'descr': '<f4', 'fortran_order': False, 'shape': ('3', 4), }",
        "shape-list.npy":
            "{'descr': '<f4', 'fortran_order': False, 'shape': [3, 4], }",
        "shape-int.npy":
            "{'descr': '<f4', 'fortran_order': False, 'shape': (12), }",
        "shape-leading-zero.npy":
            "{'descr': '<f4', 'fortran_order': False, 'shape': (03, 4), }",
        "shape-entry-huge.npy":
            "{'descr': '<f4', 'fortran_order': False, "
            "'shape': (9223372036854775808,), }",
        "shape-overflow.npy":
            "{'descr': '<f4', 'fortran_order': False, "
            "'shape': (4294967296, 4294967296), }",
        "shape-too-many-elems.npy":
            "{'descr': '|u1', 'fortran_order': False, "
            "'shape': (2147483649,), }",
        "shape-9d.npy":
            "{'descr': '<f4', 'fortran_order': False, "
            "'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }",
        "descr-f2.npy":
            "{'descr': '<f2', 'fortran_order': False, 'shape': (3, 4), }",
        "descr-native.npy":
            "{'descr': '=f4', 'fortran_order': False, 'shape': (3, 4), }",
        "descr-garbage.npy":
            "{'descr': 'zz\u00e9', 'fortran_order': False, 'shape': (3, 4), }",
    }
    for name, text in bad_dicts.items():
        write(name, hand(text, f4_12))
    write("nul-in-header.npy",
          hand("{'descr': '<f4',\0'fortran_order': False, "
               "'shape': (3, 4), }", f4_12))

    # Unsupported dtypes, written by numpy.
    write("descr-object.npy",
          npy_bytes(np.array([1, "a", None], dtype=object)))
    write("descr-structured.npy",
          npy_bytes(np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")])))
    write("descr-bool.npy", npy_bytes(np.array([True, False, True])))
    write("descr-u4.npy", npy_bytes(np.arange(4, dtype="<u4")))
    write("descr-c16.npy", npy_bytes(np.zeros(2, dtype="<c16")))
    write("descr-unicode.npy", npy_bytes(np.array(["ab", "cde"])))
    write("shape-9d-numpy.npy", npy_bytes(np.zeros((1,) * 9, dtype="<f4")))

    # Body size errors.
    write("truncated-body.npy", good[:128 + 20])
    write("trailing.npy", good + b"abc")
    write("big-claim.npy",
          hand("{'descr': '|u1', 'fortran_order': False, "
               "'shape': (2147483648,), }", b"0123456789"))
    write("header-only.npy", good[:128])


if __name__ == "__main__":
    main()
