#!/usr/bin/env bash
# usage_check.sh BUILD SOURCE - docs/usage.md's walk-through, run for real
# at a tiny scale (CTest `usage_walkthrough`, label train; BUILD already
# built). Every command of the doc's ```sh blocks is taken from the doc, in
# order, into one bash script run from SOURCE with HOME a temporary
# directory (so ~/.local and ~/cifar-search are the doc's own paths there),
# after the scale is changed by the table below and nothing else. A failure
# names the doc's line and the command. ```sh cluster blocks (PostgreSQL and
# Slurm) are skipped: tests/test_cluster_slurm.c and the *_pg tests run
# those parts on a real single-node cluster. Afterwards the studies, the
# report and the export are checked.
#
# The substitutions, applied in this order to each command (a Python regex
# and its replacement; each must match somewhere, so the table follows the
# doc):
#   curl -LO .../cifar-10-binary.tar.gz -> cp "$TG_FIXTURE/cifar-10-binary.tar.gz" .
#       a tiny CIFAR-10 in the real binary format, made here: 5 x 200
#       training and 200 test records (class templates plus noise, so
#       networks learn something), batches.meta.txt; the training split
#       holds 1,000 images, so the validation split is 100 (10%)
#   bash scripts/setup.sh, bash scripts/build.sh build -> :   (CTest built BUILD)
#   cmake --install build -> cmake --install "$TG_BUILD"
#   --n 100 (the pool) -> --n 4;  --n 1000 and "./stimuli ... 1000" -> 100
#   --epochs 30 (teacher) -> 0.3;  --epochs 1 (searches) -> 0.2;
#   --epochs 10 (rerank) -> 0.3;  --epochs 20 (pool) -> 0.4;
#   --at 0.5,1,2,5,10 -> --at 0.1,0.2;  --epochs 60 (the winner) -> 0.3
#   --trials 200 -> 3;  --top 10 -> 2
#   layerwise:10 -> layerwise:4:filters=8,16   (small, fast candidates)
#   --workers 4 --threads 4 -> --workers 2 --threads 1   (2 cores)
#   --watch 60 -> --watch 1   (every study is done: it writes once and exits)
#   python3 -> /usr/bin/python3   (Debian's, which has torch)
set -euo pipefail

build=$(cd "${1:?usage: usage_check.sh BUILD SOURCE}" && pwd)
src=$(cd "${2:?source dir}" && pwd)
doc=$src/docs/usage.md
fail() { echo "usage_walkthrough: FAIL: $*" >&2; exit 1; }
[ -f "$doc" ] || fail "no $doc"

tmp=$(mktemp -d /tmp/tg-usage-check.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export HOME=$tmp/home TG_BUILD=$build TG_FIXTURE=$tmp/fixture TG_DNNL_TUNE=0
mkdir -p "$HOME" "$TG_FIXTURE"

# ---- the CIFAR-10 fixture, a .tar.gz as the real one extracts -------------
/usr/bin/python3 - "$TG_FIXTURE/cifar-10-binary.tar.gz" <<'EOF'
import io, random, sys, tarfile
def batch(n, seed):
    rnd = random.Random(seed)
    out = bytearray()
    for i in range(n):
        k = i % 10
        t = TEMPLATES[k]
        noise = rnd.randbytes(3072)
        out.append(k)
        out += bytes((t[j] + (noise[j] >> 2)) & 255 for j in range(3072))
    return bytes(out)
TEMPLATES = [random.Random(100 + k).randbytes(3072) for k in range(10)]
names = b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n"
files = [(f"data_batch_{b}.bin", batch(200, b)) for b in range(1, 6)]
files += [("test_batch.bin", batch(200, 9)), ("batches.meta.txt", names)]
with tarfile.open(sys.argv[1], "w:gz") as tf:
    for name, data in files:
        info = tarfile.TarInfo("cifar-10-batches-bin/" + name)
        info.size, info.mode = len(data), 0o644
        tf.addfile(info, io.BytesIO(data))
EOF

# ---- the doc's commands, rescaled, as one script -----------------------------
/usr/bin/python3 - "$doc" "$tmp/walk.sh" <<'EOF'
import re, shlex, sys

SUBS = [
    (r"curl -LO https://www\.cs\.toronto\.edu/~kriz/cifar-10-binary\.tar\.gz",
     'cp "$TG_FIXTURE/cifar-10-binary.tar.gz" .'),
    (r"^bash scripts/setup\.sh$", ":"),
    (r"^bash scripts/build\.sh build$", ":"),
    (r"cmake --install build ", 'cmake --install "$TG_BUILD" '),
    (r"--n 100(?![\d.])", "--n 4"),
    (r"--n 1000(?![\d.])", "--n 100"),
    (r'(\./stimuli "\$DATA") 1000 ', r"\1 100 "),
    (r"--epochs 30(?![\d.])", "--epochs 0.3"),
    (r"--epochs 1(?![\d.])", "--epochs 0.2"),
    (r"--epochs 10(?![\d.])", "--epochs 0.3"),
    (r"--epochs 20(?![\d.])", "--epochs 0.4"),
    (r"--at 0\.5,1,2,5,10(?![\d.,])", "--at 0.1,0.2"),
    (r"--epochs 60(?![\d.])", "--epochs 0.3"),
    (r"--trials 200(?![\d.])", "--trials 3"),
    (r"--top 10(?![\d.])", "--top 2"),
    (r"layerwise:10(?![\d:])", "layerwise:4:filters=8,16"),
    (r"--workers 4 --threads 4(?![\d.])", "--workers 2 --threads 1"),
    (r"--watch 60(?![\d.])", "--watch 1"),
    (r"(?<![/\w.])python3(?![\w.])", "/usr/bin/python3"),
]
# every subcommand the walk-through is about must be among the commands run
NEEDED = {"train", "eval", "teacher", "features", "search", "status", "best", "trials",
          "rerank", "pool", "analyze", "report", "show", "export"}

doc, out = sys.argv[1], sys.argv[2]
lines = open(doc).read().split("\n")
cmds, skipped, i, block = [], 0, 0, None
while i < len(lines):
    line = lines[i]
    fence = re.match(r"^```(.*)$", line)
    if fence:
        info = fence.group(1).strip()
        if block is None:
            if info.startswith("sh") and info not in ("sh", "sh cluster"):
                sys.exit(f"usage_check: {doc}:{i + 1}: unknown block kind '{info}' "
                         "(sh runs, sh cluster is skipped)")
            block = info
        else:
            block = None
        i += 1
        continue
    if block not in ("sh", "sh cluster") or not line.strip() or line.lstrip().startswith("#"):
        i += 1
        continue
    start, text = i + 1, line
    while text.endswith("\\") and i + 1 < len(lines):
        i += 1
        text += "\n" + lines[i]
    here = re.search(r"<<-?\s*'?(\w+)'?", text)
    if here:
        while i + 1 < len(lines) and lines[i] != here.group(1):
            i += 1
            text += "\n" + lines[i]
    i += 1
    if block == "sh cluster":
        skipped += 1
    else:
        cmds.append((start, text))

used = [0] * len(SUBS)
script = ["set -o pipefail"]
ran = set()
for start, text in cmds:
    for k, (pat, rep) in enumerate(SUBS):
        text, n = re.subn(pat, rep, text, flags=re.M)
        used[k] += n
    ran.update(re.findall(r"(?:^|[\s|;&(])tgsage (\w+)", text))
    if "<<" in text:
        shown = text.split("\n")[0] + " ..."
    else:
        shown = re.sub(r"\\\n\s*", "", text)
    script += [f"printf '%s\\n' {shlex.quote(f'== usage.md:{start}: {shown}')} >&2",
               text,
               "tg_rc=$?",
               f"if [ $tg_rc -ne 0 ]; then printf '%s (exit %s)\\n' "
               f"{shlex.quote(f'usage_walkthrough: FAIL: docs/usage.md line {start}: {shown}')}"
               " $tg_rc >&2; exit 1; fi"]
# the commands ran the installed tgsage, not another on PATH
script.append('[ "$(type -P tgsage)" = "$HOME/.local/bin/tgsage" ] || '
              '{ echo "usage_walkthrough: FAIL: tgsage is $(type -P tgsage), not the installed '
              'one" >&2; exit 1; }')
script.append('echo "$PWD" > "$TG_WORKDIR_FILE"')
unused = [SUBS[k][0] for k in range(len(SUBS)) if not used[k]]
if unused:
    sys.exit(f"usage_check: substitutions that match no command of {doc} "
             f"(update the table): {unused}")
if NEEDED - ran:
    sys.exit(f"usage_check: {doc} runs no 'tgsage {sorted(NEEDED - ran)}' in its sh blocks")
if skipped == 0:
    sys.exit(f"usage_check: {doc} has no sh cluster block")
open(out, "w").write("\n".join(script) + "\n")
print(f"usage_check: {len(cmds)} commands of {doc} to run, {skipped} cluster commands "
      "skipped (tests/test_cluster_slurm.c runs those)")
EOF

# ---- run it -------------------------------------------------------------------
export TG_WORKDIR_FILE=$tmp/workdir
start=$SECONDS
if ! (cd "$src" && bash "$tmp/walk.sh") > "$tmp/walk.log" 2>&1; then
    tail -n 40 "$tmp/walk.log" >&2
    fail "$(grep 'usage_walkthrough: FAIL: ' "$tmp/walk.log" | tail -n 1 |
            sed 's/^usage_walkthrough: FAIL: //' || echo 'the walk-through')"
fi
echo "usage_walkthrough: every command ran ($((SECONDS - start)) s)"

# ---- what it made ---------------------------------------------------------------
work=$(cat "$TG_WORKDIR_FILE")
tgsage=$HOME/.local/bin/tgsage
cd "$work"
"$tgsage" status --db sqlite:///cifar.db --json > status.jsonl
/usr/bin/python3 - status.jsonl <<'EOF' || fail "the studies are not all done (status above)"
import json, sys
rows = {r["name"]: r for r in map(json.loads, open(sys.argv[1]))}
want = {"tg": ("tpe", 3, None), "p": ("tpe", 3, None), "tg.rerank": ("rerank", 2, "tg"),
        "pool": ("pool", 4, None)}
for name, (algo, trials, parent) in want.items():
    r = rows.get(name)
    assert r, f"no study {name} in {sorted(rows)}"
    assert r["done"] and r["failed"] == 0 and r["complete"] == trials, r
    assert r["algo"] == algo and r["parent"] == parent, r
    assert r["examples"] > 0, r
assert rows["tg"]["score"] == "p+tg" and rows["p"]["score"] == "p", rows
EOF
head -n 1 pool.csv | grep -q '^at,kind,teacher,method,layer,alpha,n,pearson' ||
    fail "pool.csv has no analysis header: $(head -n 1 pool.csv)"
for f in report.html live.html; do
    [ "$(wc -c < $f)" -gt 10000 ] && grep -q '<html' $f || fail "$f is not the report"
done
for f in resnet20.teacher brain.teacher stimuli.npy winner/model.py winner/weights.safetensors; do
    [ -s "$f" ] || fail "the walk-through made no $f"
done
echo "usage_walkthrough: ok"
