#!/usr/bin/env python3
"""onnx_check.py - the ONNX side of tests/test_export.c.

For each directory holding a model.onnx written by `tgsage export --format
onnx` (tg_export_onnx):
  1. Debian's python3-onnx loads it and its checker passes with full_check
     (strict shape inference);
  2. it declares opset 13, one input "input" of float (N, C, H, W) with N
     symbolic and C, H, W those given, and one output "logits" of float
     (N, CLASSES); shape inference gives every node output a shape;
  3. its metadata holds producer tgsage, and when DIR/genome.json exists
     (a PyTorch export beside it) the genome in the metadata is that file's;
  4. the graph is run on STD by an interpreter of its own written from the
     ONNX operator specifications with torch (python3-onnx 1.12 has no
     evaluator and onnxruntime is not in Debian), the logits written to
     DIR/logits_onnx.npy for the C side, and the names of every node
     output to DIR/onnx_tensors.txt.
Usage: onnx_check.py --std STD.npy [--classes 10] DIR [DIR ...]
Exits 1 with a message naming the directory at the first failure.
"""
import argparse
import os
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import onnx.shape_inference
import torch
import torch.nn.functional as F


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def torch_pads(pads):
    """ONNX pads [x1_begin, x2_begin, ..., x1_end, x2_end, ...] -> F.pad's
    (last_begin, last_end, ..., first_begin, first_end)."""
    n = len(pads) // 2
    out = []
    for d in reversed(range(n)):
        out += [int(pads[d]), int(pads[n + d])]
    return out


def window(a, spatial=2):
    """A conv's or pool's pads: (symmetric, the begins, all of them)."""
    pads = list(a.get('pads', [0] * (2 * spatial)))
    begin, end = pads[:spatial], pads[spatial:]
    return begin == end, begin, pads


def run(model, x):
    env = {i.name: torch.from_numpy(onnx.numpy_helper.to_array(i).copy())
           for i in model.graph.initializer}
    env[model.graph.input[0].name] = x
    for node in model.graph.node:
        a = attrs(node)
        ins = [env[n] for n in node.input]
        op = node.op_type
        if op == 'Conv':
            sym, begin, pads = window(a)
            xx = ins[0] if sym else F.pad(ins[0], torch_pads(pads))
            y = F.conv2d(xx, ins[1], ins[2] if len(ins) > 2 else None,
                         stride=tuple(a.get('strides', [1, 1])),
                         padding=tuple(begin) if sym else 0,
                         dilation=tuple(a.get('dilations', [1, 1])),
                         groups=a.get('group', 1))
            assert list(a['kernel_shape']) == list(ins[1].shape[2:]), 'Conv kernel_shape'
        elif op == 'BatchNormalization':
            xx, scale, b, mean, var = ins
            eps = a.get('epsilon', 1e-5)
            shp = (1, -1, 1, 1)
            y = (xx - mean.view(shp)) / torch.sqrt(var.view(shp) + eps) * scale.view(shp) \
                + b.view(shp)
        elif op == 'Relu':
            y = torch.clamp_min(ins[0], 0)
        elif op in ('MaxPool', 'AveragePool'):
            sym, begin, pads = window(a)
            assert sym, '%s with asymmetric pads' % op
            assert a.get('ceil_mode', 0) == 0 and a.get('auto_pad', b'NOTSET') in (b'NOTSET', 'NOTSET')
            k, s = tuple(a['kernel_shape']), tuple(a.get('strides', [1, 1]))
            if op == 'MaxPool':
                y = F.max_pool2d(ins[0], k, s, tuple(begin))  # pads never win a max
            else:
                y = F.avg_pool2d(ins[0], k, s, tuple(begin),
                                 count_include_pad=bool(a.get('count_include_pad', 0)))
        elif op == 'GlobalAveragePool':
            y = ins[0].mean(dim=(2, 3), keepdim=True)
        elif op == 'Add':
            y = ins[0] + ins[1]
        elif op == 'Pad':
            mode = a.get('mode', b'constant')
            assert mode in (b'constant', 'constant'), 'Pad mode %r' % mode
            value = float(ins[2]) if len(ins) > 2 else 0.0
            y = F.pad(ins[0], torch_pads(ins[1].tolist()), value=value)
        elif op == 'Concat':
            y = torch.cat(ins, dim=a['axis'])
        elif op == 'Flatten':
            axis = a.get('axis', 1)
            y = ins[0].reshape(int(np.prod(ins[0].shape[:axis])), -1)
        elif op == 'Gemm':
            A, B = ins[0], ins[1]
            if a.get('transA', 0):
                A = A.t()
            if a.get('transB', 0):
                B = B.t()
            y = a.get('alpha', 1.0) * (A @ B)
            if len(ins) > 2:
                y = y + a.get('beta', 1.0) * ins[2]
        else:
            raise AssertionError('operator %s is not one tgsage writes' % op)
        assert len(node.output) == 1, '%s has %d outputs' % (op, len(node.output))
        assert node.output[0] not in env, 'tensor %s is written twice' % node.output[0]
        env[node.output[0]] = y
    return env[model.graph.output[0].name]


def dims(value):
    return [d.dim_param if d.HasField('dim_param') else d.dim_value
            for d in value.type.tensor_type.shape.dim]


def check(d, std, classes):
    path = os.path.join(d, 'model.onnx')
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    assert [(o.domain, o.version) for o in model.opset_import] == [('', 13)], 'opset'
    g = model.graph
    assert [i.name for i in g.input] == ['input'], 'inputs %s' % [i.name for i in g.input]
    assert [o.name for o in g.output] == ['logits'], 'outputs'
    assert g.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    n, c, h, w = std.shape
    assert dims(g.input[0]) == ['N', c, h, w], 'input dims %s' % dims(g.input[0])
    assert dims(g.output[0]) == ['N', classes], 'output dims %s' % dims(g.output[0])
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    shaped = {v.name for v in inferred.graph.value_info} | {'logits'}
    for node in g.node:
        assert node.output[0] in shaped, 'no inferred shape for %s' % node.output[0]
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta.get('producer') == 'tgsage', 'metadata %s' % sorted(meta)
    gpath = os.path.join(d, 'genome.json')
    if os.path.exists(gpath):
        assert meta.get('genome') == open(gpath).read().strip(), 'metadata genome'
        assert len(meta.get('genome_hash', '')) == 32, 'metadata genome_hash'
    with torch.no_grad():
        logits = run(model, torch.from_numpy(std)).numpy().astype(np.float32)
    assert logits.shape == (n, classes), 'logits shape %s' % (logits.shape,)
    np.save(os.path.join(d, 'logits_onnx.npy'), logits)
    with open(os.path.join(d, 'onnx_tensors.txt'), 'w') as f:
        for node in g.node:
            f.write(node.output[0] + '\n')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--std', required=True)
    ap.add_argument('--classes', type=int, default=10)
    ap.add_argument('dirs', nargs='+')
    args = ap.parse_args()
    torch.set_num_threads(1)
    std = np.load(args.std).astype(np.float32)
    for d in args.dirs:
        try:
            check(d, std, args.classes)
        except Exception as e:  # noqa: BLE001 - name the directory, then fail
            print('onnx_check: %s: %s: %s' % (d, type(e).__name__, e), file=sys.stderr)
            sys.exit(1)


if __name__ == '__main__':
    main()
