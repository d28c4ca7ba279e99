#!/usr/bin/env bash
# install_check.sh BUILD SOURCE LIBDIR [CC] - the installed tree, used the
# way a C user would (CTest `install_check`; BUILD already configured and
# built): `cmake --install BUILD --prefix TMP`, then with nothing but
# `pkg-config --cflags --libs --static tgsage` (PKG_CONFIG_PATH=TMP/LIBDIR/
# pkgconfig) compile every public header on its own and two programs, one
# on the RSA/evaluator API (an RDM, similarities, TG against a saved and
# reloaded teacher, checked against numpy's values) and one on the tracker
# (studies created and listed on sqlite:// in a temporary directory), run
# them, and run the installed `tgsage --help` and `tgsage status`.
# Then the same check passes on a copy of the tree moved elsewhere, and
# fails on copies missing a header, the .pc or the library, so the check
# is known to catch them.
set -euo pipefail

build=${1:?usage: install_check.sh BUILD SOURCE LIBDIR [CC]}
src=${2:?source dir}
libdir=${3:?libdir relative to the prefix (CMAKE_INSTALL_LIBDIR)}
cc=${4:-cc}

tmp=$(mktemp -d /tmp/tg-install-check.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "install_check: FAIL: $*" >&2; exit 1; }

# ---- the two user programs ------------------------------------------------

cat > "$tmp/rsa_user.c" <<'EOF'
/* An RDM, its similarity to a teacher's, and TG through the evaluator, on
 * values checked against numpy (np.corrcoef; Spearman from average ranks). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tgsage/evaluator.h>
#include <tgsage/rsa.h>
#include <tgsage/teacher.h>

static int bad(const char *what, double got, double want, double tol) {
    if (fabs(got - want) <= tol) return 0;
    fprintf(stderr, "rsa_user: %s = %.10g, want %.10g\n", what, got, want);
    return 1;
}

/* m x m symmetric RDM with zero diagonal from its upper triangle */
static void from_triangle(const double *tri, int64_t m, double *rdm) {
    int64_t k = 0;
    for (int64_t i = 0; i < m; i++) {
        rdm[i * m + i] = 0;
        for (int64_t j = i + 1; j < m; j++, k++) rdm[i * m + j] = rdm[j * m + i] = tri[k];
    }
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    tg_error err = {0};
    int fails = 0;
    /* rows 0 and 3 correlate perfectly, 0 and 1 anti-correlate */
    const float X[4 * 3] = {1, 2, 3, 3, 2, 1, 1, 3, 2, 2, 4, 6};
    double a[16];
    if (tg_rdm_rows(X, 4, 3, a, &err) != TG_OK) {
        fprintf(stderr, "rsa_user: tg_rdm_rows: %s\n", err.msg);
        return 1;
    }
    const double want_a[6] = {2, 0.5, 0, 1.5, 2, 0.5};   /* 1 - pearson */
    const int64_t iu[6][2] = {{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}};
    for (int k = 0; k < 6; k++)
        fails += bad("rdm entry", a[iu[k][0] * 4 + iu[k][1]], want_a[k], 1e-6);

    const double tri_t[6] = {2.1, 0.4, 0.2, 1.4, 1.8, 0.6};
    const double tri_c[6] = {1, 2, 3, 4, 5, 6};
    double t[16], c[16], r;
    from_triangle(tri_t, 4, t);
    from_triangle(tri_c, 4, c);
    if (tg_rdm_similarity(a, t, 4, TG_SIM_PEARSON, &r, &err) != TG_OK) goto fail;
    fails += bad("pearson(a, t)", r, 0.9860022512050942, 1e-6);
    if (tg_rdm_similarity(a, t, 4, TG_SIM_SPEARMAN, &r, &err) != TG_OK) goto fail;
    fails += bad("spearman(a, t)", r, 0.9710083124552245, 1e-6);

    /* the teacher through its file, then TG of candidates {a, c}: a wins */
    tg_teacher teacher, loaded;
    memset(&teacher, 0, sizeof teacher);
    teacher.unit = TG_RDM_CATEGORY;
    teacher.method = TG_SIM_PEARSON;
    snprintf(teacher.source, sizeof teacher.source, "install_check");
    if (tg_teacher_add(&teacher, "IT", t, 4, &err) != TG_OK) goto fail;
    if (tg_teacher_save(argv[1], &teacher, &err) != TG_OK) goto fail;
    tg_teacher_free(&teacher);
    if (tg_teacher_load(argv[1], &loaded, &err) != TG_OK) goto fail;
    const double *S[2] = {a, c};
    const char *names[2] = {"a", "c"};
    tg_eval_record rec;
    memset(&rec, 0, sizeof rec);
    if (tg_eval_rdms(&loaded, S, names, 2, 4, 1.0, &rec, &err) != TG_OK) goto fail;
    fails += bad("TG", rec.tg, 0.9860022512050942, 1e-6);
    fails += bad("r(IT, c)", rec.sim[1], -0.14191024950002482, 1e-6);
    fails += bad("winner", rec.best[0], 0, 0);
    fails += strcmp(rec.teacher_layers[0], "IT") != 0;
    tg_eval_record_free(&rec);
    tg_teacher_free(&loaded);
    if (fails) return 1;
    printf("rsa_user: ok\n");
    return 0;
fail:
    fprintf(stderr, "rsa_user: %s\n", err.msg);
    return 1;
}
EOF

cat > "$tmp/tracker_user.c" <<'EOF'
/* Two studies created on sqlite://DIR/t.db, then listed by a second
 * connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tgsage/tracker.h>

static tg_status make(tg_tracker *t, const char *name, const char *algo, tg_error *err) {
    tg_study_config c;
    tg_study_config_defaults(&c);
    snprintf(c.space, sizeof c.space, "layerwise:4");
    snprintf(c.algo, sizeof c.algo, "%s", algo);
    snprintf(c.score, sizeof c.score, "objective");
    c.trials = 7;
    tg_study s;
    int created = 0;
    tg_status st = tg_study_open(t, name, &c, NULL, 0, &s, &created, err);
    if (st == TG_OK && !created) return tg_error_set(err, TG_ERR_ARG, "%s existed", name);
    return st;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    char url[4200];
    snprintf(url, sizeof url, "sqlite:///%s/t.db", argv[1]);
    tg_error err = {0};
    tg_tracker *t = NULL;
    if (tg_tracker_open(url, &t, &err) != TG_OK || make(t, "first", "random", &err) != TG_OK ||
        make(t, "second", "tpe", &err) != TG_OK)
        goto fail;
    tg_tracker_close(t);
    if (tg_tracker_open(url, &t, &err) != TG_OK) goto fail;
    tg_study *list = NULL;
    int n = 0;
    if (tg_study_list(t, &list, &n, &err) != TG_OK) goto fail;
    int ok = n == 2 && !strcmp(list[0].name, "first") && !strcmp(list[0].cfg.algo, "random") &&
             !strcmp(list[1].name, "second") && !strcmp(list[1].cfg.algo, "tpe") &&
             list[1].cfg.trials == 7 && !strcmp(tg_tracker_backend(t), "sqlite");
    for (int i = 0; i < n; i++) printf("study %s %s\n", list[i].name, list[i].cfg.algo);
    free(list);
    tg_tracker_close(t);
    if (!ok) {
        fprintf(stderr, "tracker_user: the list is not the two studies made\n");
        return 1;
    }
    printf("tracker_user: ok\n");
    return 0;
fail:
    fprintf(stderr, "tracker_user: %s\n", err.msg);
    if (t) tg_tracker_close(t);
    return 1;
}
EOF

# ---- the check of one installed tree -----------------------------------------

# check_tree PREFIX WORK: fails (non-zero, a message on stderr) when anything
# a C user needs is missing or does not work.
check_tree() {
    local prefix=$1 work=$2 h name flags
    mkdir -p "$work"
    export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
    pkg-config --print-errors --exists tgsage || return 1
    # the .pc found must be this tree's, not one installed elsewhere
    [ "$(pkg-config --variable=pcfiledir tgsage)" = "$prefix/$libdir/pkgconfig" ] ||
        { echo "pkg-config found tgsage.pc at $(pkg-config --variable=pcfiledir tgsage)" >&2; return 1; }
    flags=$(pkg-config --cflags --libs --static tgsage) || return 1
    case " $flags " in
        *"$src"*|*"$build"*) echo "the flags point into the source or build tree: $flags" >&2; return 1 ;;
    esac
    # every header stands alone in strict C11 (a user's choice of -std)
    for h in "$prefix"/include/tgsage/*.h; do
        name=$(basename "$h")
        printf '#include <tgsage/%s>\nint main(void) { return 0; }\n' "$name" > "$work/h.c"
        # shellcheck disable=SC2086
        "$cc" -std=c11 -Wall -Wextra -Werror -fsyntax-only $(pkg-config --cflags tgsage) \
            "$work/h.c" || { echo "header $name does not compile on its own" >&2; return 1; }
    done
    for p in rsa_user tracker_user; do
        # shellcheck disable=SC2086
        "$cc" -std=c11 -Wall -Wextra -Werror -o "$work/$p" "$tmp/$p.c" $flags ||
            { echo "$p does not build with: $flags" >&2; return 1; }
    done
    "$work/rsa_user" "$work/teacher.tgt" || { echo "rsa_user failed" >&2; return 1; }
    "$work/tracker_user" "$work" || { echo "tracker_user failed" >&2; return 1; }
    # the installed command: its help, and the studies the library wrote
    "$prefix/bin/tgsage" --help > "$work/help.txt" 2>&1 || { echo "tgsage --help failed" >&2; return 1; }
    grep -q search "$work/help.txt" || { echo "tgsage --help names no search command" >&2; return 1; }
    "$prefix/bin/tgsage" status --db "sqlite:///$work/t.db" > "$work/status.txt" 2>&1 ||
        { cat "$work/status.txt" >&2; echo "tgsage status failed" >&2; return 1; }
    grep -q first "$work/status.txt" && grep -q second "$work/status.txt" ||
        { cat "$work/status.txt" >&2; echo "tgsage status does not list the studies" >&2; return 1; }
    # the installed command and the programs load the OpenBLAS the build did
    # (its OpenMP build), not whichever the system's alternatives pick
    local want got
    want=$(ldd "$build/tgsage" | awk '/libopenblas/ {print $3}')
    for p in "$prefix/bin/tgsage" "$work/rsa_user"; do
        got=$(ldd "$p" | awk '/libopenblas/ {print $3}')
        [ "$got" = "$want" ] || { echo "$p loads OpenBLAS '$got', the build '$want'" >&2; return 1; }
    done
    # every public header of the source tree is there: last, so that a
    # missing file shows above as the compiler or linker meets it, and one
    # that no other header includes (the loop above compiles what is there)
    # shows here
    for h in "$src"/include/tgsage/*.h; do
        name=$(basename "$h")
        [ -f "$prefix/include/tgsage/$name" ] || { echo "header $name not installed" >&2; return 1; }
    done
}

prefix="$tmp/prefix"
cmake --install "$build" --prefix "$prefix" > "$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; fail "cmake --install $build --prefix $prefix"; }
check_tree "$prefix" "$tmp/work" || fail "the installed tree (above)"
echo "install_check: the installed tree builds and runs both programs"

# a copy elsewhere works as well (tgsage.pc finds its prefix from its own
# place), so the copies below fail only for the file each lacks
cp -a "$prefix" "$tmp/moved"
check_tree "$tmp/moved" "$tmp/work-moved" > "$tmp/moved.log" 2>&1 ||
    { cat "$tmp/moved.log" >&2; fail "the installed tree, moved (above)"; }
echo "install_check: moved elsewhere, it still works"

# ---- the check must catch a broken tree ------------------------------------

for missing in include/tgsage/rsa.h include/tgsage/fileio.h "$libdir/pkgconfig/tgsage.pc" \
               "$libdir/libtgsage.a"; do
    rm -rf "$tmp/broken"
    cp -a "$prefix" "$tmp/broken"
    rm "$tmp/broken/$missing"
    if (check_tree "$tmp/broken" "$tmp/work-broken") > "$tmp/broken.log" 2>&1; then
        fail "the check passed on a tree without $missing"
    fi
    echo "install_check: without $missing: fails ($(tail -n 1 "$tmp/broken.log"))"
done
echo "install_check: ok"
