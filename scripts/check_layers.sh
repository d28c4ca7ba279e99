#!/bin/bash
# check_layers.sh - the layer order of docs/architecture.md ("Layers"),
# checked on every #include of src/ and include/tgsage/:
#
#   base < nn, data < infer < rsa, space < trainer, evaluator, explorer,
#   export < tracker < worker, analysis < report < cli
#
# A file may include headers of its own layer and of lower ones, never of a
# peer (nn and data know nothing of each other; the evaluator does not
# include the trainer) or of a higher layer. A public header belongs to the
# layer of its code (the map below); a file's layer is its directory under
# src/. The explorer works on the space's choices: besides its own headers
# it may include tgsage/space.h, genome.h (for the opaque type), error.h and
# rng.h, and no engine (dnnl, cblas) header. A header or directory missing
# from the map is an error too, so a new one gets a place in the order.
#
# usage: scripts/check_layers.sh [ROOT]   (exit 0: clean, 1: violations)
set -u
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root" || exit 2

declare -A RANK=(
    [base]=0
    [nn]=1 [data]=1
    [infer]=2
    [rsa]=3 [space]=3
    [trainer]=4 [evaluator]=4 [explorer]=4 [export]=4
    [tracker]=5
    [worker]=6 [analysis]=6
    [report]=7
    [cli]=8
)
ORDER="base < nn, data < infer < rsa, space < trainer, evaluator, explorer, export < tracker < worker, analysis < report < cli"

# public header -> the layer of its code
declare -A HEADER=(
    [error.h]=base [rng.h]=base [threads.h]=base [tensorfile.h]=base [fileio.h]=base
    [backend.h]=nn [checkpoint.h]=nn [graph.h]=nn [ops.h]=nn [optim.h]=nn [models.h]=nn
    [cifar.h]=data [dataset.h]=data [idx.h]=data [loader.h]=data [npy.h]=data [prep.h]=data
    [accuracy.h]=infer
    [rsa.h]=rsa [teacher.h]=rsa
    [space.h]=space [genome.h]=space
    [trainer.h]=trainer
    [evaluator.h]=evaluator
    [explorer.h]=explorer
    [export.h]=export
    [tracker.h]=tracker
    [worker.h]=worker
    [analysis.h]=analysis
    [report.h]=report
)
EXPLORER_MAY="space.h genome.h error.h rng.h explorer.h"

bad=0
report() {
    echo "check_layers: $*"
    bad=$((bad + 1))
}

for h in include/tgsage/*.h; do
    b=$(basename "$h")
    [ -n "${HEADER[$b]:-}" ] || report "$h: header has no layer in scripts/check_layers.sh's map"
done
for d in src/*/; do
    d=$(basename "$d")
    [ -n "${RANK[$d]:-}" ] || report "src/$d/: directory has no place in the layer order ($ORDER)"
done

# the layer of a file, or "" if it has none
layer_of() {
    case "$1" in
    include/tgsage/*) echo "${HEADER[$(basename "$1")]:-}" ;;
    src/*/*) local d=${1#src/}; echo "${d%%/*}" ;;
    esac
}

checked=0
while IFS= read -r f; do
    own=$(layer_of "$f")
    [ -n "$own" ] && [ -n "${RANK[$own]:-}" ] || continue
    checked=$((checked + 1))
    while IFS=: read -r line text; do
        [[ $text =~ include[[:space:]]*[\<\"]([^\>\"]+) ]] || continue
        inc=${BASH_REMATCH[1]}
        target=""
        case "$text" in
        *'"tgsage/'*|*'<tgsage/'*)
            b=${inc#tgsage/}
            target=${HEADER[$b]:-}
            if [ -z "$target" ]; then
                report "$f:$line: includes $inc, a header with no layer in the map"
                continue
            fi
            if [ "$own" = explorer ] && [[ " $EXPLORER_MAY " != *" $b "* ]]; then
                report "$f:$line: includes $inc; the explorer may include only tgsage/{${EXPLORER_MAY// /,}} (it works on the space's choices, not graphs or tensors)"
                continue
            fi
            ;;
        *'"../'*)
            # another directory's private header: src/<dir>/...
            d=${inc#../}
            target=${d%%/*}
            ;;
        *'<dnnl'*|*'<cblas'*|*'<oneapi/'*)
            if [ "$own" = explorer ]; then
                report "$f:$line: includes <$inc>; the explorer uses no engine library"
            fi
            continue
            ;;
        *) continue ;;
        esac
        [ -n "${RANK[$target]:-}" ] || { report "$f:$line: includes $inc of unknown layer '$target'"; continue; }
        if [ "$target" != "$own" ] && [ "${RANK[$target]}" -ge "${RANK[$own]}" ]; then
            if [ "${RANK[$target]}" -eq "${RANK[$own]}" ]; then what="a peer layer"; else what="a higher layer"; fi
            report "$f:$line: includes $inc of layer $target, $what of $own ($ORDER)"
        fi
    done < <(grep -nE '^[[:space:]]*#[[:space:]]*include' "$f")
done < <(find src include/tgsage -name '*.[ch]' | sort)

if [ "$bad" -gt 0 ]; then
    echo "check_layers: $bad violation(s) of the layer order"
    exit 1
fi
echo "check_layers: $checked files follow the layer order ($ORDER)"
exit 0
