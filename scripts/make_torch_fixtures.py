#!/usr/bin/python3
"""make_torch_fixtures.py - PyTorch reference fixtures for tests/test_torch_parity.c.

Writes tests/fixtures/torch/<net>.tgt (tgsage tensor files, see
include/tgsage/tensorfile.h) for the benchmark networks of DESIGN.md:
candidate6, resnet:3 (resnet20) and small3, on 1x28x28 inputs, 10 classes,
batch 4. Needs Debian's python3-torch and numpy. The reference tensors are
deterministic; only the float32 yardstick line of the metadata (below)
depends on the machine's float32 kernels, so a rerun on another machine may
change that line and nothing else. One net at a time (its spec or file
name):

    /usr/bin/python3 scripts/make_torch_fixtures.py [candidate6 resnet3 small3]

The sequence recorded (tests/test_torch_parity.c replays it step by step):
  1. parameters and BN running statistics set (below), model in training mode;
  2. training forward on x: logits, loss (mean cross-entropy on y), named
     activations; backward: every parameter gradient; the running statistics
     after that forward (momentum 0.1, unbiased variance);
  3. evaluation forward on x (running statistics from step 2): logits;
  4. five steps of SGD (lr 0.05, momentum 0.9, Nesterov, weight decay 5e-4)
     on the same batch, each a training forward, loss, backward, step: the
     five losses, then a few parameters and all running statistics after them.
The reference is computed in float64 from float32 inputs and parameters, so
it carries no float32 rounding of its own; the script also replays the
sequence in float32 PyTorch and prints (and stores in the metadata) how far
float32 PyTorch lands from the float64 reference, the yardstick for the C
tolerances.

Parameters are not stored: candidate6 alone has 545k of them and, with its
gradients, would make a 4.4 MB file. Parameter i (the index in tg_net_params
order, i.e. C creation order) is generated element by element from a counter
hash that the C test reproduces bit for bit:
    h = splitmix64_mix((i << 32) | j)          (uint64 arithmetic, wrapping)
    u = float32((h >> 40) - 2**23) * 2**-23    (exact, in [-1, 1))
    p[j] = offset + scale * u                  (float32; "pgen.<i>" = [scale, offset])
offset != 0 only with a power-of-two scale, so the product is exact and a
fused multiply-add gives the same float. "pcheck.<i>" (2 int32, low and high
half of sum_j bits(p[j]) * (2j+1) mod 2**64) lets the test prove that its
parameters are these.

Tensors in each file (f32 unless noted; i indexes tg_net_params, s tg_net_state):
  x (4,1,28,28), y i32 (4), pgen.<i> (2), pcheck.<i> i32 (2), state.<s>,
  logits (4,10), loss f64 (1), act.<name> and actstride.<name> i32 (1): the
  named layer's training output (n,c,h,w) flattened, every stride-th element
  (stride 1: all of it), grad.<i>, state_after.<s>, logits_eval (4,10),
  losses f64 (5), final.<i> for a few i, state_final.<s>, and for the ReLU
  ties of the SGD steps (below, "ReLU ties") tie.losses, tie.final.<i> and
  tie.state_final.<s> (ties x n: what flipping each tie alone changes), one
  metadata line "tie <t> step <s> relu <call> element <j> margin <m>" each.
The metadata lists "param <i> <kind>" (conv.w, bn.gamma, ...) and
"state <s> <kind>", which the test matches against the C parameter names.
candidate6 is a genome (tests/fixtures/genomes/candidate6.json, built as
docs/spaces.md says): its parameters are named by PyTorch module paths in C
as here, so its metadata gives each one's state-dict name
("layers.0.conv.weight", "layers.2.bn.running_var"), which the C name must
equal.
"""

import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                   "fixtures", "torch")
BATCH, CLASSES = 4, 10
LR, MOMENTUM, WD, STEPS = 0.05, 0.9, 5e-4, 5
ACT_MAX = 16384          # named activations above this are sampled with a stride
MASK64 = (1 << 64) - 1

# ---- the networks: as /work/shared/bench/torch_baseline.py ----------------

GENOMES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                       "fixtures", "genomes")


class LayerWiseGenome(nn.Module):
    """A layer-wise genome as docs/spaces.md builds it: per layer i the
    concatenation of its inputs (ascending, as the canonical genome lists
    them: the image, then earlier layers; smaller maps zero-padded at the
    bottom and right to the largest), conv `layers.{i}.conv` (a bias only
    without BN), BN `layers.{i}.bn`, ReLU as chosen; the layers that feed no
    later layer, concatenated the same way, into global average pooling and
    the classifier `fc`."""
    def __init__(self, genome, cin=1, ncls=10):
        super().__init__()
        self.spec = []
        ch = {-1: cin}
        used = set()
        self.layers = nn.ModuleList()
        for i, L in enumerate(genome["layers"]):
            ins = sorted(L["inputs"]) or [-1]
            used.update(j for j in ins if j >= 0)
            layer = nn.Module()
            bn = L["norm"] == "bn"
            layer.conv = nn.Conv2d(sum(ch[j] for j in ins), L["filters"], (L["kh"], L["kw"]),
                                   L["stride"], (L["kh"] // 2, L["kw"] // 2), bias=not bn)
            if bn:
                layer.bn = nn.BatchNorm2d(L["filters"])
            self.layers.append(layer)
            self.spec.append((ins, bn, L["act"] == "relu"))
            ch[i] = L["filters"]
        self.heads = [i for i in range(len(self.spec)) if i not in used]
        self.fc = nn.Linear(sum(ch[i] for i in self.heads), ncls)

    @staticmethod
    def cat(xs):
        h = max(t.shape[2] for t in xs)
        w = max(t.shape[3] for t in xs)
        return torch.cat([F.pad(t, (0, w - t.shape[3], 0, h - t.shape[2])) for t in xs], 1)

    def forward(self, x):
        outs = {-1: x}
        for i, (ins, bn, relu) in enumerate(self.spec):
            y = self.layers[i].conv(self.cat([outs[j] for j in ins]))
            if bn:
                y = self.layers[i].bn(y)
            outs[i] = F.relu(y) if relu else y
        return self.fc(self.cat([outs[i] for i in self.heads]).mean((2, 3)))


def candidate6():
    with open(os.path.join(GENOMES, "candidate6.json")) as f:
        return LayerWiseGenome(json.load(f))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False); self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False); self.b2 = nn.BatchNorm2d(cout)
        self.sc = None
        if stride != 1 or cin != cout:
            self.sc = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(y + (x if self.sc is None else self.sc(x)))


class ResNet(nn.Module):
    def __init__(self, n=3, cin=1, ncls=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(cin, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        blocks, c = [], 16
        for k, w in enumerate([16, 32, 64]):
            for i in range(n):
                blocks.append(Block(c, w, 2 if (i == 0 and k > 0) else 1)); c = w
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, ncls)

    def forward(self, x):
        return self.fc(self.blocks(self.stem(x)).mean((2, 3)))


def small3(cin=1, ncls=10):
    def cbr(i, o, s): return [nn.Conv2d(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]
    return nn.Sequential(*cbr(cin, 32, 1), *cbr(32, 32, 2), *cbr(32, 32, 1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, ncls))


# ---- the C creation order (src/nn/models.c, src/nn/net.c describe()) --------
#
# tg_net_params lists parameters node by node in graph order: a conv node
# gives conv.w, a BN node bn.gamma and bn.beta, the linear node fc.w and fc.b.
# tg_net_state lists bn.running_mean and bn.running_var per BN node in order.
# Each order() returns ([(kind, torch parameter)], [BN modules]) in that order.

def order_bn(conv, bn):
    return [("conv.w", conv.weight), ("bn.gamma", bn.weight), ("bn.beta", bn.bias)], [bn]


def order_candidate6(m):
    # src/space/build_layerwise.c: per layer [concat], conv, bn, relu; then
    # gap, linear (every layer of candidate6 has BN, so no conv bias).
    ps, bns = [], []
    for layer in m.layers:
        p, b = order_bn(layer.conv, layer.bn)
        ps += p
        bns += b
    return ps + [("fc.w", m.fc.weight), ("fc.b", m.fc.bias)], bns


def order_resnet(m):
    # models.c resnet(): stem conv_bn; per block conv_bn (c1, b1), conv_bn
    # (c2, b2), then the shortcut conv_bn (sc) when the shape changes; gap,
    # linear.
    ps, bns = order_bn(m.stem[0], m.stem[1])
    for blk in m.blocks:
        pairs = [(blk.c1, blk.b1), (blk.c2, blk.b2)]
        if blk.sc is not None:
            pairs.append((blk.sc[0], blk.sc[1]))
        for conv, bn in pairs:
            p, b = order_bn(conv, bn)
            ps += p
            bns += b
    return ps + [("fc.w", m.fc.weight), ("fc.b", m.fc.bias)], bns


def order_small3(m):
    # models.c small3: three conv_bn with ReLU (Sequential: conv, BN, ReLU at
    # 0-2, 3-5, 6-8), gap (pool 9, flatten 10), linear (11).
    ps, bns = [], []
    for c, b in ((0, 1), (3, 4), (6, 7)):
        p, q = order_bn(m[c], m[b])
        ps += p
        bns += q
    return ps + [("fc.w", m[11].weight), ("fc.b", m[11].bias)], bns


def named_layers_candidate6(m):
    # layer<i> is the ReLU after layers[i].bn: record relu(bn(...)).
    return [("layer%d" % i, layer.bn, True) for i, layer in enumerate(m.layers)]


def named_layers_resnet(m):
    # L1..L3: the output of the last block of each stack (after its ReLU).
    n = len(m.blocks) // 3
    return [("L%d" % (s + 1), m.blocks[(s + 1) * n - 1], False) for s in range(3)]


NETS = [
    # (C spec, file name, builder, C order, named layers, by module path):
    # a genome's parameters are named by PyTorch module paths in C too, so
    # its fixture records each parameter's state-dict name, which the C
    # name must equal; the graph built-ins record the kind ("conv.w").
    ("candidate6", "candidate6", candidate6, order_candidate6, named_layers_candidate6, True),
    ("resnet:3", "resnet3", lambda: ResNet(3), order_resnet, named_layers_resnet, False),
    ("small3", "small3", small3, order_small3, lambda m: [], False),
]


# ---- the parameter generator (the C test has the same) ----------------------

def mix64(z):
    """splitmix64's output function on a uint64 array (wrapping arithmetic)."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def gen_param(i, n, scale, offset):
    j = np.arange(n, dtype=np.uint64)
    h = mix64((np.uint64(i) << np.uint64(32)) | j)
    u = ((h >> np.uint64(40)).astype(np.int64) - (1 << 23)).astype(np.float32)
    u = u * np.float32(2.0 ** -23)
    v = np.float32(scale) * u
    if offset != 0:
        m, _ = np.frexp(scale)
        assert m == 0.5, "an offset needs a power-of-two scale (exact product)"
        v = np.float32(offset) + v
    assert v.dtype == np.float32
    return v


def pcheck(v):
    """sum_j bits(v[j]) * (2j+1) mod 2**64 as two int32 (low, high)."""
    bits = v.view(np.uint32).astype(np.uint64)
    w = np.arange(v.size, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    s = int(np.sum(bits * w, dtype=np.uint64)) & MASK64
    lo, hi = s & 0xFFFFFFFF, s >> 32
    return np.array([lo, hi], dtype=np.uint32).view(np.int32)


def gen_rule(kind, shape, fc_in):
    """(scale, offset) of parameter kind: He-uniform convolutions, PyTorch's
    linear bound 1/sqrt(in features), BN affine near the identity but not at
    it (so a swapped gamma and beta would show)."""
    if kind == "conv.w":
        fan_in = int(np.prod(shape[1:]))
        return float(np.float32(np.sqrt(6.0 / fan_in))), 0.0
    if kind == "bn.gamma":
        return 0.25, 1.0
    if kind == "bn.beta":
        return 0.125, 0.0
    if kind in ("fc.w", "fc.b"):
        return float(np.float32(1.0 / np.sqrt(fc_in))), 0.0
    raise ValueError(kind)


# ---- the tensor file writer (include/tgsage/tensorfile.h) -------------------

DTYPES = {np.dtype(np.float32): 0, np.dtype(np.int32): 1, np.dtype(np.float64): 2}


def fnv1a64(data):
    # byte by byte in Python: slow, but a second or two for a few MB
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & MASK64
    return h


def write_tensorfile(path, meta, tensors):
    out = bytearray(b"TGSGTNSR")
    meta_b = meta.encode()
    out += np.array([1, len(tensors), len(meta_b)], dtype="<u4").tobytes() + meta_b
    for name, a in tensors:
        a = np.ascontiguousarray(a)
        dt = DTYPES[a.dtype]
        nb = name.encode()
        assert len(nb) < 128 and 1 <= a.ndim <= 8
        out += np.array([len(nb)], dtype="<u2").tobytes() + nb
        out += bytes([dt, a.ndim]) + np.array(a.shape, dtype="<u4").tobytes()
        out += a.astype(a.dtype.newbyteorder("<")).tobytes()
    out += np.array([fnv1a64(out)], dtype="<u8").tobytes()
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(out)
    os.replace(tmp, path)
    return len(out)


# ---- recording the sequence -----------------------------------------------

def act_stride(n):
    """1 if n fits ACT_MAX, else the smallest stride >= n/ACT_MAX that is
    coprime with the map sizes (28 = 4*7, 14, 7), so the sample visits every
    row and column phase."""
    s = max(1, -(-n // ACT_MAX))
    while s > 1 and (s % 2 == 0 or s % 7 == 0):
        s += 1
    return s


# ---- ReLU ties in the five SGD steps --------------------------------------
# A ReLU input within float32 reach of zero (a tie) may land on either side in
# an engine, and the unit it flips moves that step's gradient by a whole
# pixel's share: at batch 4 that moved resnet:3's final stem weights by up to
# 940 times their tolerance. Which ties flip depends on summation orders (the
# reference backend at 1 thread with OPENBLAS_CORETYPE empty, oneDNN at 3
# threads), so the fixture records
# every tie of the SGD steps and what flipping each alone does to the
# trajectory's results; the C test accepts the engine's trajectory if it is
# the reference's with at most a few of these ties flipped.
TIE_MARGIN = 2e-6        # |input| < TIE_MARGIN * max|input| of its ReLU call
                         # (the engines flipped ties up to 5.2e-7)
_relu = F.relu
TIES = {"on": False, "call": 0, "record": None, "flip": None}


def _tie_relu(t, *args, **kwargs):
    if not TIES["on"]:
        return _relu(t, *args, **kwargs)
    call = TIES["call"]
    TIES["call"] += 1
    if TIES["record"] is not None:
        v = t.detach().abs().reshape(-1)
        top = float(v.max())
        for j in torch.nonzero(v < TIE_MARGIN * top).reshape(-1).tolist():
            TIES["record"].append((call, j, float(v[j]) / top))
    if TIES["flip"] is None or TIES["flip"][0] != call:
        return _relu(t, *args, **kwargs)
    mask = (t > 0).to(t.dtype).reshape(-1).clone()
    j = TIES["flip"][1]
    mask[j] = 1 - mask[j]
    return t * mask.reshape(t.shape)


F.relu = _tie_relu       # nn.ReLU calls F.relu too


def run(model, order, named_of, x, y, dtype, record=None, flip=None):
    """Replay the recorded sequence on model (already holding parameters and
    statistics) in dtype; returns a dict of numpy results in that dtype.
    During the SGD steps (ReLU calls counted from their first forward),
    record collects the ties as (call, element, margin) and flip = (call,
    element) puts that one ReLU input on the other side of zero."""
    model = model.to(dtype)
    params, bns = order(model)
    named = named_of(model)
    x = x.to(dtype)
    r = {}
    acts = {}
    hooks = []
    for name, mod, relu in named:
        def hook(_m, _i, out, name=name, relu=relu):
            acts[name] = (F.relu(out) if relu else out).detach().clone()
        hooks.append(mod.register_forward_hook(hook))
    model.train()
    model.zero_grad()
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    for h in hooks:
        h.remove()
    r["logits"] = logits.detach().numpy()
    r["loss"] = np.array([loss.item()])
    for name, _, _ in named:
        r["act." + name] = acts[name].numpy()
    for i, (_, p) in enumerate(params):
        r["grad.%d" % i] = p.grad.numpy().copy()
    for s, bn in enumerate(bns):
        r["state_after.%d" % (2 * s)] = bn.running_mean.numpy().copy()
        r["state_after.%d" % (2 * s + 1)] = bn.running_var.numpy().copy()
    model.eval()
    with torch.no_grad():
        r["logits_eval"] = model(x).numpy()
    model.train()
    opt = torch.optim.SGD([p for _, p in params], lr=LR, momentum=MOMENTUM,
                          nesterov=True, weight_decay=WD)
    losses = []
    TIES.update(on=True, call=0, record=record, flip=flip)
    for _ in range(STEPS):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    TIES.update(on=False, record=None, flip=None)
    r["losses"] = np.array(losses)
    for i, (_, p) in enumerate(params):
        r["final.%d" % i] = p.detach().numpy().copy()
    for s, bn in enumerate(bns):
        r["state_final.%d" % (2 * s)] = bn.running_mean.numpy().copy()
        r["state_final.%d" % (2 * s + 1)] = bn.running_var.numpy().copy()
    return r


def kind_of(key):
    k = key.split(".")[0]
    return "loss" if k == "losses" else k


def worst(a, b):
    """Worst |a-b| / max|b| of a tensor (the scale-relative error)."""
    b = b.astype(np.float64)
    return float(np.max(np.abs(a.astype(np.float64) - b)) / max(np.max(np.abs(b)), 1e-30))


def make(spec, fname, build, order, named_of, by_path):
    torch.manual_seed(20240617)
    model = build()
    params, bns = order(model)
    named = named_of(model)
    pname = {id(p): n for n, p in model.named_parameters()}
    bname = {id(b): n for n, b in model.named_modules()}
    # the explicit order must cover every parameter and BN exactly once
    assert sorted(id(p) for _, p in params) == sorted(id(p) for p in model.parameters())
    assert len(bns) == sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())

    x = torch.randn(BATCH, 1, 28, 28, dtype=torch.float32)
    y = torch.randint(0, CLASSES, (BATCH,), dtype=torch.int64)
    tensors = [("x", x.numpy()), ("y", y.numpy().astype(np.int32))]
    meta = ["tgsage torch parity fixture (scripts/make_torch_fixtures.py)",
            "net %s" % spec, "batch %d" % BATCH, "classes %d" % CLASSES,
            "torch %s, numpy %s; reference computed in float64" % (
                torch.__version__, np.__version__),
            "sgd lr %g momentum %g nesterov 1 weight_decay %g steps %d" % (
                LR, MOMENTUM, WD, STEPS)]
    with torch.no_grad():
        for i, (kind, p) in enumerate(params):
            scale, offset = gen_rule(kind, tuple(p.shape), params[-2][1].shape[1])
            v = gen_param(i, p.numel(), scale, offset)
            p.copy_(torch.from_numpy(v.reshape(tuple(p.shape))))
            tensors.append(("pgen.%d" % i, np.array([scale, offset], dtype=np.float32)))
            tensors.append(("pcheck.%d" % i, pcheck(v)))
            meta.append("param %d %s" % (i, pname[id(p)] if by_path else kind))
        for s, bn in enumerate(bns):
            bn.running_mean.copy_(0.1 * torch.randn(bn.num_features))
            bn.running_var.copy_(0.5 + torch.rand(bn.num_features))
            tensors.append(("state.%d" % (2 * s), bn.running_mean.numpy().copy()))
            tensors.append(("state.%d" % (2 * s + 1), bn.running_var.numpy().copy()))
            prefix = bname[id(bn)] if by_path else "bn"
            meta.append("state %d %s.running_mean" % (2 * s, prefix))
            meta.append("state %d %s.running_var" % (2 * s + 1, prefix))

    start = {k: v.clone() for k, v in model.state_dict().items()}
    m32 = build()
    m32.load_state_dict(start)
    ties = []
    ref = run(model, order, named_of, x, y, torch.float64, record=ties)
    calls = TIES["call"] // STEPS
    f32 = run(m32, order, named_of, x, y, torch.float32)

    # how far float32 PyTorch is from the float64 reference, per kind
    yard = {}
    for k in ref:
        yard[kind_of(k)] = max(yard.get(kind_of(k), 0.0), worst(f32[k], ref[k]))
    meta.append("float32 torch vs this reference, worst |a-b|/max|b| per kind: " +
                ", ".join("%s %.2e" % kv for kv in sorted(yard.items())))

    for k in ["logits", "loss"]:
        tensors.append((k, ref[k] if k == "loss" else ref[k].astype(np.float32)))
    for name, _, _ in named:
        a = ref["act." + name].astype(np.float32).reshape(-1)
        st = act_stride(a.size)
        tensors.append(("act." + name, a[::st].copy()))
        tensors.append(("actstride." + name, np.array([st], dtype=np.int32)))
    for i in range(len(params)):
        tensors.append(("grad.%d" % i, ref["grad.%d" % i].astype(np.float32)))
    for s in range(2 * len(bns)):
        tensors.append(("state_after.%d" % s, ref["state_after.%d" % s].astype(np.float32)))
    tensors.append(("logits_eval", ref["logits_eval"].astype(np.float32)))
    tensors.append(("losses", ref["losses"]))
    # final parameters: the first conv, a BN gamma in the middle, the classifier
    finals = [0, 3 * (len(bns) // 2) + 1, len(params) - 2, len(params) - 1]
    assert params[finals[1]][0] == "bn.gamma"
    for i in finals:
        tensors.append(("final.%d" % i, ref["final.%d" % i].astype(np.float32)))
    for s in range(2 * len(bns)):
        tensors.append(("state_final.%d" % s, ref["state_final.%d" % s].astype(np.float32)))

    # each tie flipped alone: its change to the trajectory's results
    traj = ["losses"] + ["final.%d" % i for i in finals] + [
        "state_final.%d" % s for s in range(2 * len(bns))]
    delta = {k: [] for k in traj}
    for t, (call, j, margin) in enumerate(ties):
        mt = build()
        mt.load_state_dict(start)
        r = run(mt, order, named_of, x, y, torch.float64, flip=(call, j))
        for k in traj:
            delta[k].append(r[k] - ref[k])
        meta.append("tie %d step %d relu %d element %d margin %.2e" % (
            t, call // calls, call % calls, j, margin))
    if ties:
        for k in traj:
            tensors.append(("tie." + k, np.stack(delta[k]).astype(np.float32)))

    path = os.path.join(OUT, fname + ".tgt")
    size = write_tensorfile(path, "\n".join(meta) + "\n", tensors)
    print("%s: %d tensors, %d params, %d bytes; losses %s" % (
        path, len(tensors), sum(p.numel() for _, p in params), size,
        " ".join("%.6f" % v for v in ref["losses"])))
    print("  %d ReLU ties in the SGD steps (input within %g of its call's max|input| "
          "from zero)" % (len(ties), TIE_MARGIN))
    print("  float32 torch vs float64, worst |a-b|/max|b|: " +
          ", ".join("%s %.2e" % kv for kv in sorted(yard.items())))


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT, exist_ok=True)
    only = sys.argv[1:]
    for spec, fname, build, order, named, by_path in NETS:
        if only and spec not in only and fname not in only:
            continue
        make(spec, fname, build, order, named, by_path)


if __name__ == "__main__":
    main()
