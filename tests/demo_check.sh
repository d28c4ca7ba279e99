#!/usr/bin/env bash
# demo_check.sh TGSAGE - the README's main job (scripts/demo.sh) end to end
# at a tiny scale: a teacher trained for 0.05 epoch, a TPE search of 4
# trials of 0.5 epoch on 512 images (2 batches) with 2 workers, the best table. Checks
# the study is done with every trial complete and scored P + TG, the table
# lists them, and a second run resumes (reuses the teacher, searches nothing).
set -euo pipefail
bin=$1
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export TG_DEMO_BIN=$bin TG_DEMO_DIR=$tmp TG_DEMO_TEACHER_EPOCHS=0.05 TG_DEMO_TRIALS=4 \
       TG_DEMO_EPOCHS=0.5 TG_DEMO_TRAIN_LIMIT=512 TG_DEMO_WORKERS=2
fail() { echo "demo_check: $*" >&2; exit 1; }

bash "$src/scripts/demo.sh" > "$tmp/out1" 2>&1 || { cat "$tmp/out1"; fail "demo.sh failed"; }
grep -q "== teacher: resnet:1, 0.05 epoch" "$tmp/out1" || fail "no teacher step"
grep -q "^rank  trial" "$tmp/out1" || { cat "$tmp/out1"; fail "no results table"; }
status=$("$bin" status --db "sqlite:///$tmp/search.db" --study demo --json)
/usr/bin/python3 - "$status" <<'PY' || fail "study: $status"
import json, sys
s = json.loads(sys.argv[1])
assert s["done"] and s["complete"] == 4 and s["failed"] == 0, s
assert s["score"] == "p+tg" and s["examples"] == 4 * 256, s
PY
n=$("$bin" trials --db "sqlite:///$tmp/search.db" --study demo --format json |
    /usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
ok = [r for r in rows if r["state"] == "complete" and 0 <= r["p"] <= 1 and 0 < r["tg"] <= 1
      and abs(r["score"] - (r["p"] + r["tg"])) < 1e-12]
print(len(ok))')
[ "$n" = 4 ] || fail "$n of 4 trials complete with score = P + TG"
[ "$(grep -cE '^ +[0-9]+ +[0-9]+ ' "$tmp/out1")" = 4 ] || fail "the table lacks trials"

bash "$src/scripts/demo.sh" > "$tmp/out2" 2>&1 || { cat "$tmp/out2"; fail "second run failed"; }
grep -q "from an earlier run" "$tmp/out2" || fail "the teacher was not reused"
grep -q "resuming study 'demo'" "$tmp/out2" || { cat "$tmp/out2"; fail "no resume"; }
echo "demo_check: ok"
