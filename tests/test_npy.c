/* test_npy.c - the .npy reader and writer: every good file numpy wrote
 * (dtypes, byte orders, C and Fortran order, 0-D to 8-D, empty arrays,
 * format versions 1.0 to 3.0) and hand-written headers, every malformed or
 * unsupported case as a committed fixture (scripts/make_npy_fixtures.py
 * writes them all), damaged and mutated copies through the in-memory
 * parser, the conversions, and the writer: round trips, numpy reading what
 * we wrote, argument errors and a write that fails part way (RLIMIT_FSIZE)
 * leaving the previous file intact. */
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tgsage/npy.h"

#define PYTHON "/usr/bin/python3"

/* Must match GOOD (and the hand-written good files) in
 * scripts/make_npy_fixtures.py. */
typedef struct {
    const char *name;
    tg_npy_dtype dtype;
    int ndim;
    int64_t shape[TG_NPY_MAX_NDIM];
} good_file;

static const good_file GOOD[] = {
    {"u1-1d.npy", TG_NPY_U8, 1, {10}},
    {"u1-2d-fortran.npy", TG_NPY_U8, 2, {3, 5}},
    {"i4-le-2d.npy", TG_NPY_I32, 2, {3, 4}},
    {"i4-be-2d.npy", TG_NPY_I32, 2, {3, 4}},
    {"i4-be-2d-fortran.npy", TG_NPY_I32, 2, {3, 4}},
    {"i8-le-3d.npy", TG_NPY_I64, 3, {2, 3, 4}},
    {"i8-be-3d.npy", TG_NPY_I64, 3, {2, 3, 4}},
    {"f4-le-2d.npy", TG_NPY_F32, 2, {3, 5}},
    {"f4-be-2d.npy", TG_NPY_F32, 2, {3, 5}},
    {"f4-le-3d-fortran.npy", TG_NPY_F32, 3, {2, 3, 4}},
    {"f8-le-4d.npy", TG_NPY_F64, 4, {2, 3, 2, 2}},
    {"f8-be-4d.npy", TG_NPY_F64, 4, {2, 3, 2, 2}},
    {"f8-be-4d-fortran.npy", TG_NPY_F64, 4, {2, 3, 2, 2}},
    {"f8-0d.npy", TG_NPY_F64, 0, {0}},
    {"i8-8d.npy", TG_NPY_I64, 8, {1, 2, 1, 2, 1, 2, 1, 3}},
    {"f4-empty.npy", TG_NPY_F32, 1, {0}},
    {"i4-empty-2d.npy", TG_NPY_I32, 2, {3, 0}},
    {"f8-empty-3d.npy", TG_NPY_F64, 3, {2, 0, 3}},
    {"f4-v2.npy", TG_NPY_F32, 2, {2, 3}},
    {"i8-be-v3-fortran.npy", TG_NPY_I64, 2, {3, 2}},
    {"hand-key-order.npy", TG_NPY_I32, 2, {2, 3}},
    {"hand-double-quotes.npy", TG_NPY_I32, 2, {2, 3}},
    {"hand-whitespace.npy", TG_NPY_I32, 2, {2, 3}},
    {"hand-py2-long.npy", TG_NPY_I32, 2, {2, 3}},
    {"hand-unpadded.npy", TG_NPY_I32, 2, {2, 3}},
    {"hand-1d-fortran.npy", TG_NPY_I32, 1, {6}},
    {"hand-empty-fortran.npy", TG_NPY_F64, 3, {2, 0, 3}},
};
#define NGOOD (sizeof GOOD / sizeof GOOD[0])

/* value() of the script: element i of the flat C-order array. */
static int64_t good_int(tg_npy_dtype dt, uint64_t i) {
    if (dt == TG_NPY_U8) return (int64_t)((37 * i + 11) % 256);
    if (dt == TG_NPY_I32) {
        uint32_t v = (uint32_t)(i * 2654435761u + 12345u);
        return v >= 0x80000000u ? (int64_t)v - 0x100000000 : (int64_t)v;
    }
    uint64_t v = i * 0x9E3779B97F4A7C15u + 12345u;
    return v > INT64_MAX ? -(int64_t)(~v) - 1 : (int64_t)v;
}

static double good_float(uint64_t i) { return ((double)i * 0.5 - 3.0) / 7.0; }

/* Fill a native array of dtype with the good values. */
static void fill_good(tg_npy_dtype dt, void *data, size_t n) {
    for (size_t i = 0; i < n; i++) {
        switch (dt) {
        case TG_NPY_U8: ((uint8_t *)data)[i] = (uint8_t)good_int(dt, i); break;
        case TG_NPY_I32: ((int32_t *)data)[i] = (int32_t)good_int(dt, i); break;
        case TG_NPY_I64: ((int64_t *)data)[i] = good_int(dt, i); break;
        case TG_NPY_F32: ((float *)data)[i] = (float)good_float(i); break;
        case TG_NPY_F64: ((double *)data)[i] = good_float(i); break;
        }
    }
}

static void assert_msg_has(const tg_error *e, const char *word) {
    if (!strstr(e->msg, word))
        fail_msg("message \"%s\" does not contain \"%s\"", e->msg, word);
}

static void assert_zeroed(const tg_npy *a) {
    assert_null(a->data);
    assert_int_equal(a->ndim, 0);
    assert_int_equal(a->count, 0);
}

/* Whole file into a fresh buffer (at least 1 byte allocated). */
static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    assert_true(len >= 0);
    rewind(f);
    uint8_t *buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    assert_int_equal(fclose(f), 0);
    *n = (size_t)len;
    return buf;
}

static void check_good(const tg_npy *a, const good_file *g) {
    if (a->dtype != g->dtype || a->ndim != g->ndim)
        fail_msg("%s: dtype %s ndim %d, want %s ndim %d", g->name,
                 tg_npy_dtype_name(a->dtype), a->ndim,
                 tg_npy_dtype_name(g->dtype), g->ndim);
    size_t count = 1;
    for (int k = 0; k < TG_NPY_MAX_NDIM; k++) {
        assert_int_equal(a->shape[k], k < g->ndim ? g->shape[k] : 0);
        if (k < g->ndim) count *= (size_t)g->shape[k];
    }
    assert_int_equal(a->count, count);
    assert_non_null(a->data);
    /* Exact comparison, floats included: the values are computed the
     * same way (in double, then rounded once) here and in the script. */
    size_t isz = tg_npy_dtype_size(g->dtype);
    uint8_t *want = malloc(count * isz + 1);
    assert_non_null(want);
    fill_good(g->dtype, want, count);
    for (size_t i = 0; i < count; i++)
        if (memcmp((uint8_t *)a->data + i * isz, want + i * isz, isz) != 0)
            fail_msg("%s: wrong value at flat index %zu", g->name, i);
    free(want);
}

/* ---- good files ---- */

static void test_good_files(void **state) {
    (void)state;
    for (size_t k = 0; k < NGOOD; k++) {
        char path[4096], name[64];
        snprintf(name, sizeof name, "npy/%s", GOOD[k].name);
        snprintf(path, sizeof path, "%s", tu_fixture(name));
        tg_npy a;
        tg_error e;
        tg_error_clear(&e);
        if (tg_npy_read(path, &a, &e) != TG_OK)
            fail_msg("%s: %s", GOOD[k].name, e.msg);
        check_good(&a, &GOOD[k]);
        tg_npy_free(&a);
        /* The in-memory parser gives the same array. */
        size_t n = 0;
        uint8_t *buf = slurp(path, &n);
        if (tg_npy_parse(buf, n, name, &a, &e) != TG_OK)
            fail_msg("%s (parse): %s", GOOD[k].name, e.msg);
        check_good(&a, &GOOD[k]);
        tg_npy_free(&a);
        free(buf);
    }
}

static void test_npy_free(void **state) {
    (void)state;
    tg_npy a;
    memset(&a, 0, sizeof a);
    tg_npy_free(&a);
    tg_npy_free(NULL);
    tg_error e;
    assert_int_equal(tg_npy_read(tu_fixture("npy/u1-1d.npy"), &a, &e), TG_OK);
    tg_npy_free(&a);
    assert_zeroed(&a);
    tg_npy_free(&a); /* twice is harmless */
}

static void test_dtype_helpers(void **state) {
    (void)state;
    assert_int_equal(tg_npy_dtype_size(TG_NPY_U8), 1);
    assert_int_equal(tg_npy_dtype_size(TG_NPY_I32), 4);
    assert_int_equal(tg_npy_dtype_size(TG_NPY_I64), 8);
    assert_int_equal(tg_npy_dtype_size(TG_NPY_F32), 4);
    assert_int_equal(tg_npy_dtype_size(TG_NPY_F64), 8);
    assert_int_equal(tg_npy_dtype_size((tg_npy_dtype)99), 0);
    assert_string_equal(tg_npy_dtype_name(TG_NPY_U8), "uint8");
    assert_string_equal(tg_npy_dtype_name(TG_NPY_I64), "int64");
    assert_string_equal(tg_npy_dtype_name(TG_NPY_F32), "float32");
    assert_string_equal(tg_npy_dtype_name((tg_npy_dtype)99), "?");
}

/* ---- malformed and unsupported files ---- */

/* Fixture npy/name must be refused with want by both tg_npy_read and
 * tg_npy_parse, with the same message, naming the file and containing each
 * of the NULL-terminated words; *out must come back zeroed. */
static void expect_fail(const char *name, tg_status want, ...) {
    char rel[128], path[4096];
    snprintf(rel, sizeof rel, "npy/%s", name);
    snprintf(path, sizeof path, "%s", tu_fixture(rel));
    tg_npy a;
    memset(&a, 0xA5, sizeof a);
    tg_error e;
    tg_error_clear(&e);
    tg_status st = tg_npy_read(path, &a, &e);
    if (st != want)
        fail_msg("%s: status %s, want %s (%s)", name, tg_status_name(st),
                 tg_status_name(want), e.msg);
    assert_int_equal(e.status, want);
    assert_zeroed(&a);
    assert_msg_has(&e, path);
    va_list ap;
    va_start(ap, want);
    for (const char *w; (w = va_arg(ap, const char *));) assert_msg_has(&e, w);
    va_end(ap);

    size_t n = 0;
    uint8_t *buf = slurp(path, &n);
    tg_error e2;
    tg_error_clear(&e2);
    memset(&a, 0xA5, sizeof a);
    st = tg_npy_parse(buf, n, path, &a, &e2);
    free(buf);
    if (st != want)
        fail_msg("%s (parse): status %s, want %s (%s)", name,
                 tg_status_name(st), tg_status_name(want), e2.msg);
    assert_zeroed(&a);
    assert_string_equal(e2.msg, e.msg);
}

static void test_bad_preamble(void **state) {
    (void)state;
    expect_fail("bad-magic.npy", TG_ERR_FORMAT, "bad magic",
                "'\\x93NUMPX'", "not a .npy file", NULL);
    expect_fail("not-npy.npy", TG_ERR_FORMAT, "bad magic", "'hello,'", NULL);
    expect_fail("empty.npy", TG_ERR_FORMAT, "truncated preamble", "empty",
                NULL);
    expect_fail("short-preamble.npy", TG_ERR_FORMAT, "truncated preamble",
                "7 bytes", NULL);
    expect_fail("short-length.npy", TG_ERR_FORMAT, "truncated preamble",
                "9 bytes", "has 10", NULL);
    expect_fail("version-1-1.npy", TG_ERR_UNSUPPORTED, "format version 1.1",
                "not supported", "1.0, 2.0 and 3.0", NULL);
    expect_fail("version-4-0.npy", TG_ERR_UNSUPPORTED, "format version 4.0",
                NULL);
    expect_fail("header-too-long.npy", TG_ERR_UNSUPPORTED,
                "header length 20000 is over the limit of 10000 bytes", NULL);
    expect_fail("header-truncated.npy", TG_ERR_FORMAT, "truncated header",
                "says 118 bytes", "has 50 after the preamble", NULL);
    expect_fail("no-newline.npy", TG_ERR_FORMAT,
                "not terminated by a newline", NULL);
}

static void test_bad_dict(void **state) {
    (void)state;
    expect_fail("not-dict.npy", TG_ERR_FORMAT, "malformed header",
                "not a dict", "'['", NULL);
    expect_fail("dict-unclosed.npy", TG_ERR_FORMAT, "malformed header",
                "expected a key", "end of the header", NULL);
    expect_fail("dict-no-colon.npy", TG_ERR_FORMAT,
                "expected ':' after key 'descr'", "found \"'<f4'\"", NULL);
    expect_fail("dict-no-comma.npy", TG_ERR_FORMAT,
                "expected ',' or '}' after the value of 'descr'", NULL);
    expect_fail("dict-garbage-after.npy", TG_ERR_FORMAT,
                "'x' after the closing '}'", NULL);
    expect_fail("dict-unquoted-key.npy", TG_ERR_FORMAT, "expected a key",
                "'descr'", NULL);
    expect_fail("string-unterminated.npy", TG_ERR_FORMAT,
                "expected ',' or '}' after the value of 'descr'", NULL);
    expect_fail("string-escape.npy", TG_ERR_FORMAT, "escape sequence",
                "the value of 'descr'", NULL);
    expect_fail("missing-key.npy", TG_ERR_FORMAT, "missing key 'shape'",
                NULL);
    expect_fail("duplicate-key.npy", TG_ERR_FORMAT, "duplicate key 'descr'",
                NULL);
    expect_fail("unknown-key.npy", TG_ERR_FORMAT, "unknown key 'extra'",
                NULL);
    expect_fail("fortran-not-bool.npy", TG_ERR_FORMAT,
                "'fortran_order' must be True or False", "found '0'", NULL);
    expect_fail("descr-not-string.npy", TG_ERR_FORMAT,
                "the value of 'descr' (a quoted string)", "found '5'", NULL);
    expect_fail("nul-in-header.npy", TG_ERR_FORMAT, "malformed header",
                "\\x00", NULL);
}

static void test_bad_shape(void **state) {
    (void)state;
    expect_fail("shape-negative.npy", TG_ERR_FORMAT, "field 'shape'",
                "entry 1 is negative (-4)", NULL);
    expect_fail("shape-float.npy", TG_ERR_FORMAT, "field 'shape'",
                "entry 1 is not an integer: '4.0'", NULL);
    expect_fail("shape-string.npy", TG_ERR_FORMAT, "field 'shape'",
                "entry 0 is not an integer", NULL);
    expect_fail("shape-list.npy", TG_ERR_FORMAT,
                "'shape' must be a tuple of integers, found '['", NULL);
    expect_fail("shape-int.npy", TG_ERR_FORMAT,
                "'shape' must be a tuple", "(12,)", NULL);
    expect_fail("shape-leading-zero.npy", TG_ERR_FORMAT,
                "entry 0 is not an integer: '03'", NULL);
    expect_fail("shape-entry-huge.npy", TG_ERR_FORMAT,
                "entry 0 (9223372036854775808) is too large", NULL);
    expect_fail("shape-overflow.npy", TG_ERR_FORMAT,
                "(4294967296, 4294967296) overflows", NULL);
    expect_fail("shape-too-many-elems.npy", TG_ERR_UNSUPPORTED,
                "(2147483649,) has 2147483649 elements",
                "limit of 2147483648", NULL);
    expect_fail("shape-9d.npy", TG_ERR_UNSUPPORTED, "field 'shape'",
                "9 dimensions", "at most 8", NULL);
    expect_fail("shape-9d-numpy.npy", TG_ERR_UNSUPPORTED, "9 dimensions",
                NULL);
}

static void test_bad_dtype(void **state) {
    (void)state;
    expect_fail("descr-object.npy", TG_ERR_UNSUPPORTED, "field 'descr'",
                "'|O'", "object arrays are not supported",
                "nothing is unpickled", NULL);
    expect_fail("descr-structured.npy", TG_ERR_UNSUPPORTED, "field 'descr'",
                "structured dtypes", NULL);
    expect_fail("descr-bool.npy", TG_ERR_UNSUPPORTED,
                "dtype '|b1' (bool) is not supported", NULL);
    expect_fail("descr-u4.npy", TG_ERR_UNSUPPORTED, "'<u4' (uint32)", NULL);
    expect_fail("descr-c16.npy", TG_ERR_UNSUPPORTED, "'<c16' (complex128)",
                NULL);
    expect_fail("descr-unicode.npy", TG_ERR_UNSUPPORTED,
                "'<U3' (unicode string)", NULL);
    expect_fail("descr-f2.npy", TG_ERR_UNSUPPORTED, "'<f2' (float16)", NULL);
    expect_fail("descr-native.npy", TG_ERR_UNSUPPORTED, "'=f4' (float32)",
                NULL);
    expect_fail("descr-garbage.npy", TG_ERR_UNSUPPORTED,
                "dtype 'zz\\xe9' is not supported", NULL);
}

static void test_bad_body(void **state) {
    (void)state;
    expect_fail("truncated-body.npy", TG_ERR_FORMAT,
                "truncated body: shape (3, 4) of '<f4' needs 48 bytes but "
                "the file has 20 after the header",
                NULL);
    expect_fail("header-only.npy", TG_ERR_FORMAT, "truncated body",
                "needs 48 bytes", "has 0 after", NULL);
    expect_fail("trailing.npy", TG_ERR_FORMAT,
                "trailing bytes: shape (3, 4) of '<f4' needs 48 bytes but "
                "3 more follow the body",
                "must match", NULL);
    /* The 2^31-element cap itself is allowed; the body is what is
     * missing, and nothing that large is allocated to find out. */
    expect_fail("big-claim.npy", TG_ERR_FORMAT, "truncated body",
                "(2147483648,) of '|u1' needs 2147483648 bytes",
                "has 10 after", NULL);
}

static void test_io_errors(void **state) {
    (void)state;
    tg_npy a;
    tg_error e;
    const char *missing = tu_fixture("npy/no-such-file.npy");
    assert_int_equal(tg_npy_read(missing, &a, &e), TG_ERR_IO);
    assert_msg_has(&e, "no-such-file.npy");
    assert_msg_has(&e, "cannot open");
    assert_zeroed(&a);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_fixture("npy"));
    assert_int_equal(tg_npy_read(dir, &a, &e), TG_ERR_IO);
    assert_msg_has(&e, dir);
    assert_msg_has(&e, "read error");
    assert_zeroed(&a);
    assert_int_equal(tg_npy_read(NULL, &a, &e), TG_ERR_ARG);
    assert_int_equal(tg_npy_read("", &a, &e), TG_ERR_ARG);
    assert_int_equal(tg_npy_parse(NULL, 5, "x", &a, &e), TG_ERR_ARG);
    assert_int_equal(tg_npy_parse(NULL, 0, NULL, &a, &e), TG_ERR_FORMAT);
    assert_msg_has(&e, "<buffer>");
    assert_msg_has(&e, "empty");
}

/* ---- damaged copies of good files, through the in-memory parser ---- */

static void check_damaged(const uint8_t *buf, size_t n, int want_ok) {
    tg_npy a;
    tg_error e;
    tg_error_clear(&e);
    tg_status st = tg_npy_parse(buf, n, "damaged", &a, &e);
    if (st == TG_OK) {
        if (want_ok == 0)
            fail_msg("a damaged copy (%zu bytes) was accepted", n);
        assert_non_null(a.data);
        tg_npy_free(&a);
        return;
    }
    if (want_ok == 1) fail_msg("a changed body byte was refused: %s", e.msg);
    assert_int_equal(e.status, st);
    assert_true(st == TG_ERR_FORMAT || st == TG_ERR_UNSUPPORTED);
    assert_zeroed(&a);
    if (strncmp(e.msg, "damaged: ", 9) != 0)
        fail_msg("message does not start with the name: %s", e.msg);
}

/* Every prefix is refused; a flipped body byte still reads; a flipped
 * header byte may go either way but must not crash or leak. */
static void test_damaged_copies(void **state) {
    (void)state;
    static const char *const names[] = {
        "npy/f4-be-2d.npy", "npy/i8-be-v3-fortran.npy",
        "npy/hand-whitespace.npy", "npy/hand-unpadded.npy",
        "npy/f8-0d.npy", "npy/hand-empty-fortran.npy"};
    static const uint8_t flips[] = {0x01, 0x20, 0x80, 0xff};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        size_t n = 0;
        uint8_t *good = slurp(tu_fixture(names[k]), &n);
        tg_npy a;
        tg_error e;
        assert_int_equal(tg_npy_parse(good, n, names[k], &a, &e), TG_OK);
        size_t body = n - a.count * tg_npy_dtype_size(a.dtype);
        tg_npy_free(&a);
        for (size_t len = 0; len < n; len++) check_damaged(good, len, 0);
        uint8_t *bad = malloc(n + 1);
        assert_non_null(bad);
        for (size_t pos = 0; pos < n; pos++) {
            for (size_t f = 0; f < sizeof flips; f++) {
                memcpy(bad, good, n);
                bad[pos] ^= flips[f];
                check_damaged(bad, n, pos >= body ? 1 : -1);
            }
        }
        memcpy(bad, good, n);
        bad[n] = 0;
        check_damaged(bad, n + 1, 0);
        free(bad);
        free(good);
    }
}

/* Random edits of a good header with characters a header is made of:
 * nothing may crash, leak or be read past the buffer (ASan checks). */
static void test_mutated_headers(void **state) {
    (void)state;
    static const char alphabet[] = "{}()[],:'\" \t\n-0123456789L<>|=TrueFalse"
                                   "descrfortran_ordershapeOfiub\\\x80";
    size_t n = 0;
    uint8_t *good = slurp(tu_fixture("npy/hand-whitespace.npy"), &n);
    uint8_t *bad = malloc(n + 16);
    assert_non_null(bad);
    tg_rng r;
    tg_rng_seed(&r, 1234);
    int accepted = 0;
    for (int it = 0; it < 20000; it++) {
        memcpy(bad, good, n);
        size_t m = n;
        int edits = 1 + (int)tg_rng_below(&r, 4);
        for (int k = 0; k < edits; k++) {
            size_t pos = 10 + tg_rng_below(&r, 64); /* the dict text */
            size_t at = tg_rng_below(&r, sizeof alphabet - 1);
            uint8_t c = (uint8_t)alphabet[at];
            if (tg_rng_below(&r, 4) == 0 && m < n + 16) { /* insert */
                memmove(bad + pos + 1, bad + pos, m - pos);
                bad[pos] = c;
                m++;
            } else {
                bad[pos] = c;
            }
        }
        tg_npy a;
        tg_error e;
        tg_error_clear(&e);
        tg_status st = tg_npy_parse(bad, m, "mutant", &a, &e);
        if (st == TG_OK) {
            accepted++;
            tg_npy_free(&a);
        } else {
            assert_true(st == TG_ERR_FORMAT || st == TG_ERR_UNSUPPORTED);
            assert_zeroed(&a);
            assert_true(strncmp(e.msg, "mutant: ", 8) == 0);
        }
    }
    /* Some edits (whitespace for whitespace) keep the file valid. */
    assert_true(accepted > 0);
    free(bad);
    free(good);
}

/* ---- conversions ---- */

static tg_npy wrap(tg_npy_dtype dt, void *data, size_t n) {
    tg_npy a;
    memset(&a, 0, sizeof a);
    a.dtype = dt;
    a.ndim = 1;
    a.shape[0] = (int64_t)n;
    a.count = n;
    a.data = data;
    return a;
}

static void test_to_f32(void **state) {
    (void)state;
    tg_error e;
    float *f = NULL;
    uint8_t u8[3] = {0, 7, 255};
    tg_npy a = wrap(TG_NPY_U8, u8, 3);
    assert_int_equal(tg_npy_to_f32(&a, &f, &e), TG_OK);
    assert_true(f[0] == 0.0f && f[1] == 7.0f && f[2] == 255.0f);
    free(f);
    int32_t i32[3] = {INT32_MIN, -5, 16777216};
    a = wrap(TG_NPY_I32, i32, 3);
    assert_int_equal(tg_npy_to_f32(&a, &f, &e), TG_OK);
    assert_true(f[0] == -2147483648.0f && f[1] == -5.0f && f[2] == 16777216.0f);
    free(f);
    int64_t i64[2] = {INT64_MAX, -3};
    a = wrap(TG_NPY_I64, i64, 2);
    assert_int_equal(tg_npy_to_f32(&a, &f, &e), TG_OK);
    assert_true(f[0] == 9223372036854775808.0f && f[1] == -3.0f);
    free(f);
    float f32[3] = {1.5f, NAN, -INFINITY};
    a = wrap(TG_NPY_F32, f32, 3);
    assert_int_equal(tg_npy_to_f32(&a, &f, &e), TG_OK);
    assert_true(f[0] == 1.5f && isnan(f[1]) && f[2] == -INFINITY);
    free(f);
    /* FLT_MAX and a little more still round to FLT_MAX; NaN/inf pass. */
    double f64[5] = {0.1, 3.4028234663852886e38, 3.40282356e38, NAN,
                     INFINITY};
    a = wrap(TG_NPY_F64, f64, 5);
    assert_int_equal(tg_npy_to_f32(&a, &f, &e), TG_OK);
    assert_true(f[0] == 0.1f && f[1] == 3.4028234663852886e38f &&
                f[2] == 3.4028234663852886e38f && isnan(f[3]) &&
                f[4] == INFINITY);
    free(f);
    double big[3] = {1, 2, -1e39};
    a = wrap(TG_NPY_F64, big, 3);
    f = (float *)big;
    assert_int_equal(tg_npy_to_f32(&a, &f, &e), TG_ERR_ARG);
    assert_null(f);
    assert_msg_has(&e, "element 2");
    assert_msg_has(&e, "out of float32 range");
    /* Empty arrays convert to a non-NULL empty buffer. */
    a = wrap(TG_NPY_F64, NULL, 0);
    assert_int_equal(tg_npy_to_f32(&a, &f, &e), TG_OK);
    assert_non_null(f);
    free(f);
}

static void test_to_i32(void **state) {
    (void)state;
    tg_error e;
    int32_t *r = NULL;
    uint8_t u8[2] = {0, 255};
    tg_npy a = wrap(TG_NPY_U8, u8, 2);
    assert_int_equal(tg_npy_to_i32(&a, &r, &e), TG_OK);
    assert_true(r[0] == 0 && r[1] == 255);
    free(r);
    int32_t i32[2] = {INT32_MIN, INT32_MAX};
    a = wrap(TG_NPY_I32, i32, 2);
    assert_int_equal(tg_npy_to_i32(&a, &r, &e), TG_OK);
    assert_memory_equal(r, i32, sizeof i32);
    free(r);
    int64_t i64[3] = {INT32_MIN, INT32_MAX, -7};
    a = wrap(TG_NPY_I64, i64, 3);
    assert_int_equal(tg_npy_to_i32(&a, &r, &e), TG_OK);
    assert_true(r[0] == INT32_MIN && r[1] == INT32_MAX && r[2] == -7);
    free(r);
    int64_t i64bad[3] = {1, 2, (int64_t)INT32_MAX + 1};
    a = wrap(TG_NPY_I64, i64bad, 3);
    assert_int_equal(tg_npy_to_i32(&a, &r, &e), TG_ERR_ARG);
    assert_null(r);
    assert_msg_has(&e, "element 2 = 2147483648 of the int64 array");
    assert_msg_has(&e, "out of int32 range");
    float f32[3] = {-0.0f, 16777216.0f, -2147483648.0f};
    a = wrap(TG_NPY_F32, f32, 3);
    assert_int_equal(tg_npy_to_i32(&a, &r, &e), TG_OK);
    assert_true(r[0] == 0 && r[1] == 16777216 && r[2] == INT32_MIN);
    free(r);
    double f64[2] = {2147483647.0, -2147483648.0};
    a = wrap(TG_NPY_F64, f64, 2);
    assert_int_equal(tg_npy_to_i32(&a, &r, &e), TG_OK);
    assert_true(r[0] == INT32_MAX && r[1] == INT32_MIN);
    free(r);
    static const struct {
        double v;
        tg_status st;
        const char *word;
        bool as_f32; /* also a bad float32 (not rounded into range) */
    } bad[] = {
        {2.5, TG_ERR_ARG, "not an integer", true},
        {2147483648.0, TG_ERR_ARG, "out of int32 range", true},
        {-2147483649.0, TG_ERR_ARG, "out of int32 range", false},
        {1e300, TG_ERR_ARG, "out of int32 range", false},
        {NAN, TG_ERR_NUMERIC, "not finite", true},
        {-INFINITY, TG_ERR_NUMERIC, "not finite", true},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        double d[2] = {1, bad[k].v};
        a = wrap(TG_NPY_F64, d, 2);
        assert_int_equal(tg_npy_to_i32(&a, &r, &e), bad[k].st);
        assert_null(r);
        assert_msg_has(&e, "element 1");
        assert_msg_has(&e, "float64 array");
        assert_msg_has(&e, bad[k].word);
        if (!bad[k].as_f32) continue;
        float f[2] = {1, (float)bad[k].v};
        a = wrap(TG_NPY_F32, f, 2);
        assert_int_equal(tg_npy_to_i32(&a, &r, &e), bad[k].st);
        assert_msg_has(&e, "float32 array");
    }
    /* 3e9 as a float is out of range too (float rounding keeps it so). */
    float big = 3e9f;
    a = wrap(TG_NPY_F32, &big, 1);
    assert_int_equal(tg_npy_to_i32(&a, &r, &e), TG_ERR_ARG);
    a = wrap(TG_NPY_I32, NULL, 0);
    assert_int_equal(tg_npy_to_i32(&a, &r, &e), TG_OK);
    assert_non_null(r);
    free(r);
}

/* ---- writer ---- */

typedef struct {
    tg_npy_dtype dtype;
    int ndim;
    int64_t shape[TG_NPY_MAX_NDIM];
} shape_case;

static const shape_case ROUND[] = {
    {TG_NPY_U8, 2, {3, 7}},      {TG_NPY_I32, 1, {5}},
    {TG_NPY_I64, 3, {2, 3, 4}},  {TG_NPY_F32, 4, {2, 1, 3, 2}},
    {TG_NPY_F64, 0, {0}},        {TG_NPY_F32, 2, {4, 0}},
    {TG_NPY_I32, 8, {2, 1, 2, 1, 2, 1, 2, 3}},
    {TG_NPY_F64, 2, {5, 3}},     {TG_NPY_U8, 1, {0}},
};
#define NROUND (sizeof ROUND / sizeof ROUND[0])

static size_t case_count(const shape_case *c) {
    size_t n = 1;
    for (int k = 0; k < c->ndim; k++) n *= (size_t)c->shape[k];
    return n;
}

static void write_case(const char *dir, size_t k, char *path, size_t cap) {
    const shape_case *c = &ROUND[k];
    size_t n = case_count(c);
    void *data = malloc(n * 8 + 1);
    assert_non_null(data);
    fill_good(c->dtype, data, n);
    snprintf(path, cap, "%s/round-%zu.npy", dir, k);
    tg_error e;
    tg_error_clear(&e);
    if (tg_npy_write(path, c->dtype, c->ndim, c->shape, data, &e) != TG_OK)
        fail_msg("write %s: %s", path, e.msg);
    free(data);
}

static void test_round_trip(void **state) {
    (void)state;
    char dir[256], path[512];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    for (size_t k = 0; k < NROUND; k++) {
        write_case(dir, k, path, sizeof path);
        tg_npy a;
        tg_error e;
        if (tg_npy_read(path, &a, &e) != TG_OK) fail_msg("%s", e.msg);
        good_file g = {path, ROUND[k].dtype, ROUND[k].ndim, {0}};
        memcpy(g.shape, ROUND[k].shape, sizeof g.shape);
        check_good(&a, &g);
        tg_npy_free(&a);
        /* numpy's layout: version 1.0, header padded to 64 bytes and ended
         * by a newline, little-endian descr, C order. */
        size_t n = 0;
        uint8_t *buf = slurp(path, &n);
        assert_memory_equal(buf, "\x93NUMPY\x01\x00", 8);
        size_t hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
        assert_int_equal((10 + hlen) % 64, 0);
        assert_int_equal(buf[10 + hlen - 1], '\n');
        assert_int_equal(n, 10 + hlen + case_count(&ROUND[k]) *
                                            tg_npy_dtype_size(ROUND[k].dtype));
        assert_non_null(strstr((const char *)buf + 10,
                               "'fortran_order': False"));
        free(buf);
        /* No temporary file left behind (fileio.h: PATH.tmp.PID). */
        char tmp[600];
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
        assert_int_equal(access(tmp, F_OK), -1);
    }
    /* Byte-exact header for one shape, as numpy 1.24 writes it (numpy
     * adds more spaces, room for the first axis to grow; same length here). */
    snprintf(path, sizeof path, "%s/exact.npy", dir);
    const int64_t shape[2] = {3, 4};
    float zeros[12] = {0};
    tg_error e;
    assert_int_equal(tg_npy_write(path, TG_NPY_F32, 2, shape, zeros, &e),
                     TG_OK);
    size_t n = 0;
    uint8_t *buf = slurp(path, &n);
    const char *want = "{'descr': '<f4', 'fortran_order': False, "
                       "'shape': (3, 4), }";
    assert_int_equal(n, 128 + 48); /* 10 + 59 + 1 header bytes, padded */
    assert_memory_equal(buf + 10, want, strlen(want));
    free(buf);
    tu_rmtree(dir);
}

static bool have_numpy(void) {
    if (access(PYTHON, X_OK) != 0) return false;
    return system(PYTHON " -c 'import numpy' >/dev/null 2>&1") == 0;
}

/* numpy must load what tg_npy_write wrote, with the same values. */
static void test_numpy_reads_ours(void **state) {
    (void)state;
    if (!have_numpy()) {
        print_message("skipping: " PYTHON " with numpy is not available "
                      "(apt-get install python3-numpy)\n");
        skip();
    }
    char dir[256], path[512], script[512], cmd[1200];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    char cases[2048] = "";
    for (size_t k = 0; k < NROUND; k++) {
        write_case(dir, k, path, sizeof path);
        static const char *const descr[] = {"|u1", "<i4", "<i8", "<f4",
                                            "<f8"};
        size_t o = strlen(cases);
        o += (size_t)snprintf(cases + o, sizeof cases - o,
                              "    (%zu, \"%s\", (", k,
                              descr[ROUND[k].dtype]);
        for (int d = 0; d < ROUND[k].ndim; d++)
            o += (size_t)snprintf(cases + o, sizeof cases - o, "%lld,",
                                  (long long)ROUND[k].shape[d]);
        snprintf(cases + o, sizeof cases - o, ")),\n");
    }
    /* value() of scripts/make_npy_fixtures.py. */
    char text[4096];
    snprintf(text, sizeof text,
             "import sys\n"
             "import numpy as np\n"
             "def value(kind, size, i):\n"
             "    if kind == 'u':\n"
             "        return (37 * i + 11) %% 256\n"
             "    if kind == 'i':\n"
             "        bits = 8 * size\n"
             "        mult = 2654435761 if size == 4 else 0x9E3779B97F4A7C15\n"
             "        v = (i * mult + 12345) %% (1 << bits)\n"
             "        return v - (1 << bits) if v >= 1 << (bits - 1) else v\n"
             "    return (i * 0.5 - 3.0) / 7.0\n"
             "CASES = [\n%s]\n"
             "for k, descr, shape in CASES:\n"
             "    a = np.load('%%s/round-%%d.npy' %% (sys.argv[1], k),\n"
             "                allow_pickle=False)\n"
             "    assert a.dtype.str == descr, (k, a.dtype.str)\n"
             "    assert a.shape == shape, (k, a.shape)\n"
             "    want = np.array([value(a.dtype.kind, a.dtype.itemsize, i)\n"
             "                     for i in range(a.size)], dtype=descr)\n"
             "    assert np.array_equal(a.ravel(order='C'), want), k\n"
             "print('numpy read %%d files' %% len(CASES))\n",
             cases);
    snprintf(script, sizeof script, "%s/check.py", dir);
    assert_int_equal(tu_write_file(script, text, strlen(text)), 0);
    snprintf(cmd, sizeof cmd, PYTHON " '%s' '%s'", script, dir);
    int rc = system(cmd);
    if (rc != 0)
        fail_msg("numpy could not read our files: %s (rc %d)", cmd, rc);
    tu_rmtree(dir);
}

static void test_write_errors(void **state) {
    (void)state;
    char dir[256], path[512];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    snprintf(path, sizeof path, "%s/x.npy", dir);
    int64_t shape[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    float v[4] = {1, 2, 3, 4};
    tg_error e;
    assert_int_equal(tg_npy_write(path, TG_NPY_F32, 9, shape, v, &e),
                     TG_ERR_ARG);
    assert_msg_has(&e, "x.npy");
    assert_msg_has(&e, "ndim 9");
    assert_int_equal(tg_npy_write(path, TG_NPY_F32, -1, shape, v, &e),
                     TG_ERR_ARG);
    int64_t neg[2] = {2, -2};
    assert_int_equal(tg_npy_write(path, TG_NPY_F32, 2, neg, v, &e),
                     TG_ERR_ARG);
    assert_msg_has(&e, "shape[1] = -2 is negative");
    int64_t huge[2] = {(int64_t)1 << 31, 2};
    assert_int_equal(tg_npy_write(path, TG_NPY_U8, 2, huge, v, &e),
                     TG_ERR_ARG);
    assert_msg_has(&e, "more than 2147483648 elements");
    int64_t two[1] = {2};
    assert_int_equal(tg_npy_write(path, TG_NPY_F32, 1, two, NULL, &e),
                     TG_ERR_ARG);
    assert_int_equal(tg_npy_write(path, (tg_npy_dtype)9, 1, two, v, &e),
                     TG_ERR_ARG);
    assert_int_equal(tg_npy_write(NULL, TG_NPY_F32, 1, two, v, &e),
                     TG_ERR_ARG);
    assert_int_equal(tg_npy_write("", TG_NPY_F32, 1, two, v, &e), TG_ERR_ARG);
    assert_int_equal(access(path, F_OK), -1); /* nothing was written */
    /* An empty array needs no data. */
    int64_t empty[2] = {0, 5};
    assert_int_equal(tg_npy_write(path, TG_NPY_F32, 2, empty, NULL, &e),
                     TG_OK);
    /* A directory that does not exist. */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/no-such-dir/x.npy", dir);
    assert_int_equal(tg_npy_write(bad, TG_NPY_F32, 1, two, v, &e), TG_ERR_IO);
    assert_msg_has(&e, bad);
    assert_msg_has(&e, "cannot create");
    assert_msg_has(&e, "No such file");
    /* The target is a directory: the rename fails, the .tmp goes away. */
    char sub[600], subtmp[700];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(tg_npy_write(sub, TG_NPY_F32, 1, two, v, &e), TG_ERR_IO);
    assert_msg_has(&e, "cannot rename");
    snprintf(subtmp, sizeof subtmp, "%s.tmp.%ld", sub, (long)getpid());
    assert_int_equal(access(subtmp, F_OK), -1);
    tu_rmtree(dir);
}

/* Names in dir other than "." and "..", comma-separated. */
static void list_dir(const char *dir, char *out, size_t cap) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    out[0] = '\0';
    for (struct dirent *de; (de = readdir(d));) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        size_t o = strlen(out);
        snprintf(out + o, cap - o, "%s%s", o ? "," : "", de->d_name);
    }
    closedir(d);
}

/* A write that fails part way (here a file size limit, as a full disk
 * would) leaves the previous file intact and removes the .tmp. The limit
 * makes write() fail with EFBIG instead of killing us once SIGXFSZ is
 * ignored. (Never test this against /dev/full: the .tmp and rename dance
 * would replace the device node when run as root.) */
static void test_write_fails_atomically(void **state) {
    (void)state;
    char dir[256], path[512], names[512];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    snprintf(path, sizeof path, "%s/keep.npy", dir);
    const int64_t small[1] = {4};
    const float old[4] = {1, 2, 3, 4};
    tg_error e;
    assert_int_equal(tg_npy_write(path, TG_NPY_F32, 1, small, old, &e), TG_OK);
    size_t n_before = 0;
    uint8_t *before = slurp(path, &n_before);

    enum { BIG = 4096 };
    double *big = malloc(BIG * sizeof *big);
    assert_non_null(big);
    fill_good(TG_NPY_F64, big, BIG);
    const int64_t bshape[2] = {64, BIG / 64};
    static const rlim_t limits[] = {0, 40, 4096}; /* none, mid-header, body */
    for (size_t k = 0; k < sizeof limits / sizeof limits[0]; k++) {
        struct rlimit saved, lim;
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
        lim = saved;
        lim.rlim_cur = limits[k];
        void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
        tg_status st = tg_npy_write(path, TG_NPY_F64, 2, bshape, big, &e);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
        signal(SIGXFSZ, prev);
        assert_int_equal(st, TG_ERR_IO);
        assert_msg_has(&e, path);
        assert_msg_has(&e, "cannot write");
        assert_msg_has(&e, "File too large");
        assert_msg_has(&e, "unchanged");
        size_t n_after = 0;
        uint8_t *after = slurp(path, &n_after);
        assert_int_equal(n_after, n_before);
        assert_memory_equal(after, before, n_before);
        free(after);
        list_dir(dir, names, sizeof names);
        assert_string_equal(names, "keep.npy");
    }
    /* Without the limit the same write replaces the file. */
    assert_int_equal(tg_npy_write(path, TG_NPY_F64, 2, bshape, big, &e), TG_OK);
    tg_npy a;
    assert_int_equal(tg_npy_read(path, &a, &e), TG_OK);
    assert_int_equal(a.count, BIG);
    assert_memory_equal(a.data, big, BIG * sizeof *big);
    tg_npy_free(&a);
    list_dir(dir, names, sizeof names);
    assert_string_equal(names, "keep.npy");
    free(big);
    free(before);
    tu_rmtree(dir);
}

/* A stale temporary file of our name (a killed process that had our PID)
 * is overwritten and consumed; one of another process is not touched. */
static void test_write_over_stale_tmp(void **state) {
    (void)state;
    char dir[256], path[512], tmp[600], other[600], names[512];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    snprintf(path, sizeof path, "%s/a.npy", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    assert_int_equal(tu_write_file(tmp, "stale stale stale", 17), 0);
    const int64_t shape[1] = {3};
    const int32_t v[3] = {7, 8, 9};
    tg_error e;
    assert_int_equal(tg_npy_write(path, TG_NPY_I32, 1, shape, v, &e), TG_OK);
    list_dir(dir, names, sizeof names);
    assert_string_equal(names, "a.npy");
    tg_npy a;
    assert_int_equal(tg_npy_read(path, &a, &e), TG_OK);
    assert_memory_equal(a.data, v, sizeof v);
    tg_npy_free(&a);
    /* above Linux's largest pid_max (2^22): never a live writer's */
    snprintf(other, sizeof other, "%s.tmp.99999999", path);
    assert_int_equal(tu_write_file(other, "theirs", 6), 0);
    assert_int_equal(tg_npy_write(path, TG_NPY_I32, 1, shape, v, &e), TG_OK);
    size_t n = 0;
    uint8_t *kept = slurp(other, &n);
    assert_int_equal(n, 6);
    assert_memory_equal(kept, "theirs", 6);
    free(kept);
    tu_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_files),
        cmocka_unit_test(test_npy_free),
        cmocka_unit_test(test_dtype_helpers),
        cmocka_unit_test(test_bad_preamble),
        cmocka_unit_test(test_bad_dict),
        cmocka_unit_test(test_bad_shape),
        cmocka_unit_test(test_bad_dtype),
        cmocka_unit_test(test_bad_body),
        cmocka_unit_test(test_io_errors),
        cmocka_unit_test(test_damaged_copies),
        cmocka_unit_test(test_mutated_headers),
        cmocka_unit_test(test_to_f32),
        cmocka_unit_test(test_to_i32),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_numpy_reads_ours),
        cmocka_unit_test(test_write_errors),
        cmocka_unit_test(test_write_fails_atomically),
        cmocka_unit_test(test_write_over_stale_tmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
