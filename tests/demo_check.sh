#!/usr/bin/env bash
# demo_check.sh TGSAGE - the README's main job (scripts/demo.sh) end to end
# at a tiny scale: a teacher trained for 0.05 epoch, a TPE search of 4
# trials (2 random start-up) of 0.5 epoch on 512 images (2 batches) with 2
# workers, a rerank of the best 2 for 0.5 epoch on 1,024 images, the results
# table and the report. Checks the study is done with every trial complete and scored
# P + TG, the rerank study holds the top 2 linked to their originals and
# trained on twice the images, the table lists them with the cost, the report
# holds every trial, and a second run resumes (reuses the teacher,
# searches and reranks nothing).
set -euo pipefail
bin=$1
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export TG_DEMO_BIN=$bin TG_DEMO_DIR=$tmp TG_DEMO_TEACHER_EPOCHS=0.05 TG_DEMO_TRIALS=4 \
       TG_DEMO_STARTUP=2 TG_DEMO_EPOCHS=0.5 TG_DEMO_TRAIN_LIMIT=512 TG_DEMO_WORKERS=2 \
       TG_DEMO_TOP=2 TG_DEMO_RERANK_EPOCHS=0.5 TG_DEMO_RERANK_LIMIT=1024
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

# the rerank: the search's best 2, each linked to its original, 0.5 epoch of 1,024 images
/usr/bin/python3 - "$bin" "sqlite:///$tmp/search.db" "$tmp/out1" "$tmp/report.html" <<'PY' \
  || fail "rerank or report"
import json, re, subprocess, sys
bin, db, out, report = sys.argv[1:]
def lines(*args):
    r = subprocess.run([bin, *args], check=True, capture_output=True, text=True)
    return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
search = lines("trials", "--db", db, "--study", "demo")
rerank = lines("trials", "--db", db, "--study", "demo.rerank")
top = sorted((t for t in search if t["state"] == "complete"),
             key=lambda t: (-t["score"], t["number"]))[:2]
assert [t["parent"] for t in rerank] == [t["number"] for t in top], (rerank, top)
for r, t in zip(rerank, top):
    assert r["state"] == "complete" and r["hash"] == t["hash"], r
    assert r["examples"] == 2 * t["examples"] == 2 * 256, (r, t)  # 1,024 images against 512
    assert 0 <= r["p"] <= 1 and 0 < r["tg"] <= 1, r
st = lines("status", "--db", db, "--study", "demo.rerank", "--json")[0]
assert st["algo"] == "rerank" and st["parent"] == "demo" and st["done"], st
# the results table: both reranked trials and the cost line
text = open(out).read()
rows = re.findall(r"^ +([12]) +(\d+) +(\d+) ", text, re.M)
assert [int(p) for _, _, p in rows] == [t["number"] for t in top], rows
assert "total 2048 examples" in text, "no cost line with the total (4 x 256 + 2 x 512)"
# the report: written, self-contained, every trial of both studies in its data
assert "wrote " + report in text, "the report's path is not printed"
html = open(report).read()
assert "<script src=" not in html and "http://" not in html.split("<script")[0]
m = re.search(r'<script type="application/json" id="tg-data">(.*?)</script>', html, re.S)
data = json.loads(m.group(1))
assert len(data["trials"]) == 4 and len(data["rerank"]) == 2, data.keys()
assert len(data["progress"]) == 4 and data["arch"]["study"] == "demo"
PY

bash "$src/scripts/demo.sh" > "$tmp/out2" 2>&1 || { cat "$tmp/out2"; fail "second run failed"; }
grep -q "from an earlier run" "$tmp/out2" || fail "the teacher was not reused"
grep -q "resuming study 'demo'" "$tmp/out2" || { cat "$tmp/out2"; fail "no resume"; }
echo "demo_check: ok"
