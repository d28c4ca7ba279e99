#!/usr/bin/env python3
"""export_check.py - the PyTorch side of tests/test_export.c.

For each directory written by `tgsage export` (tg_export_pytorch):
  1. weights.safetensors is checked against the format's rules, by a reader
     of its own (not model.py's): u64 little-endian header length N with
     8 + N a multiple of 8, a JSON header starting with '{' padded with
     spaces, string-to-string __metadata__, tensors back to back from
     offset 0 to the end of the file (no holes, nothing after), each at a
     multiple of its element size, sizes matching dtype and shape;
  2. model.py imports only torch and the standard library (the optional
     safetensors package aside);
  3. model.load(DIR) returns a Net in evaluation mode whose state_dict
     names are exactly the file's;
  4. model.standardize(RAW) equals STD (tgsage's per-image standardisation
     of the same images) to 1e-5;
  5. the logits of net(STD) are written to DIR/logits_torch.npy for the C
     side to compare with tgsage's.
Usage: export_check.py --raw RAW.npy --std STD.npy DIR [DIR ...]
Exits 1 with a message naming the directory at the first failure.
"""
import argparse
import ast
import importlib.util
import json
import os
import struct
import sys

import numpy as np
import torch

SIZES = {'F32': 4, 'I64': 8}


def check_safetensors(path):
    data = open(path, 'rb').read()
    n = struct.unpack('<Q', data[:8])[0]
    assert (8 + n) % 8 == 0, '%s: 8 + header length %d is not a multiple of 8' % (path, n)
    text = data[8:8 + n].decode('utf-8')
    assert text.startswith('{'), '%s: header does not start with {' % path
    stripped = text.rstrip(' ')
    assert stripped.endswith('}') and len(text) - len(stripped) < 8, \
        '%s: header padding is not 0..7 spaces' % path
    header = json.loads(text)
    meta = header.pop('__metadata__', {})
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()), \
        '%s: metadata is not string to string: %r' % (path, meta)
    body = len(data) - 8 - n
    spans = sorted((info['data_offsets'][0], info['data_offsets'][1], name, info)
                   for name, info in header.items())
    at = 0
    for b, e, name, info in spans:
        size = SIZES[info['dtype']]
        count = 1
        for d in info['shape']:
            count *= d
        assert b == at, '%s: %s starts at %d, expected %d (a hole or an overlap)' % (
            path, name, b, at)
        assert e - b == count * size, '%s: %s has %d bytes for shape %s' % (
            path, name, e - b, info['shape'])
        assert (8 + n + b) % size == 0, '%s: %s is not aligned' % (path, name)
        at = e
    assert at == body, '%s: tensors end at %d of %d data bytes' % (path, at, body)
    return header, meta


def check_imports(path):
    allowed = set(sys.stdlib_module_names) | {'torch', 'safetensors'}
    for node in ast.walk(ast.parse(open(path).read())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or '']
        for name in names:
            assert name.split('.')[0] in allowed, '%s imports %s' % (path, name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--raw', required=True)
    ap.add_argument('--std', required=True)
    ap.add_argument('dirs', nargs='+')
    a = ap.parse_args()
    raw = np.load(a.raw)
    std = torch.from_numpy(np.load(a.std))
    torch.set_num_threads(1)
    for i, d in enumerate(a.dirs):
        try:
            header, meta = check_safetensors(os.path.join(d, 'weights.safetensors'))
            check_imports(os.path.join(d, 'model.py'))
            spec = importlib.util.spec_from_file_location('exported_%d' % i,
                                                          os.path.join(d, 'model.py'))
            model = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(model)
            genome = json.load(open(os.path.join(d, 'genome.json')))
            assert genome == model.GENOME, 'genome.json differs from model.GENOME'
            assert meta.get('format') == 'pt', 'metadata %r' % meta
            net = model.load(d)
            assert not net.training, 'load() left the net in training mode'
            assert set(net.state_dict()) == set(header), 'state_dict names differ'
            s = model.standardize(torch.from_numpy(raw))
            assert s.dtype == torch.float32 and s.shape == std.shape
            err = (s - std).abs().max().item()
            assert err <= 1e-5, 'standardize differs from tgsage by %g' % err
            with torch.no_grad():
                logits = net(std)
            np.save(os.path.join(d, 'logits_torch.npy'), logits.numpy().astype(np.float32))
        except Exception as e:  # noqa: BLE001 - reported with the directory
            print('export_check: %s: %s: %s' % (d, type(e).__name__, e), file=sys.stderr)
            return 1
    print('export_check: %d directories ok' % len(a.dirs))
    return 0


if __name__ == '__main__':
    sys.exit(main())
