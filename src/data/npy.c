/* npy.c - strict reader and atomic writer for NumPy .npy files, see npy.h.
 *
 * Reading is split so that hostile input stays harmless and one parser
 * serves both entry points:
 *   1. npy_parse_head checks the preamble and parses the header dict from
 *      a buffer that holds at least the header (the whole file for
 *      tg_npy_parse, the first NPY_PREFIX_MAX bytes for tg_npy_read). The
 *      dict is parsed as a literal by a small recursive-descent scanner:
 *      strings, True/False and a tuple of integers are all it accepts, so
 *      nothing is ever evaluated. The body size is computed with overflow
 *      checks and capped before anything is allocated.
 *   2. The body must be exactly that size: tg_npy_parse compares lengths,
 *      tg_npy_read grows its buffer only as bytes actually arrive (a
 *      60-byte file claiming 2 GiB costs 64 KiB) and then requires end of
 *      file.
 *   3. npy_finish swaps bytes to native order and transposes Fortran-order
 *      bodies to C order.
 * Header text is latin-1 (1.0, 2.0) or UTF-8 (3.0); the two differ only in
 * non-ASCII bytes, which are legal only inside strings here, and every
 * string this reader accepts is ASCII, so neither encoding is decoded. */
#include "tgsage/npy.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_PREFIX_MAX (12 + TG_NPY_MAX_HEADER) /* preamble 2.0 + header */
#define NPY_FIRST_ALLOC ((size_t)1 << 16)      /* first body buffer size */
#define NPY_TRAILING_COUNT_MAX ((size_t)1 << 20)
#define NPY_WRITE_ALIGN 64 /* numpy pads preamble + header to this */

/* A body within the cap always fits in a size_t on 64-bit hosts; the byte
 * size is still computed with an overflow check for 32-bit ones. */
_Static_assert(TG_NPY_MAX_ELEMS <= INT64_MAX / 8, "TG_NPY_MAX_ELEMS too big");

/* What the header says, in usable form. */
typedef struct {
    tg_npy_dtype dtype;
    bool swap;    /* body is in the other byte order than the host's */
    bool fortran; /* body is in column-major order */
    int ndim;
    int64_t shape[TG_NPY_MAX_NDIM];
    size_t count, itemsize, nbytes;
    size_t offset;  /* of the body from the start of the file */
    char descr[8];  /* as written, for messages (always one of the table) */
    /* While parsing: the descr string (in the header text) or a list. */
    const uint8_t *descr_s;
    size_t descr_n;
    bool structured;
} npy_head;

static const struct {
    const char *descr;
    tg_npy_dtype dtype;
    char order; /* '<', '>' or '|' (no byte order) */
} NPY_DESCRS[] = {
    {"|u1", TG_NPY_U8, '|'},  {"<u1", TG_NPY_U8, '|'},
    {">u1", TG_NPY_U8, '|'},  {"<i4", TG_NPY_I32, '<'},
    {">i4", TG_NPY_I32, '>'}, {"<i8", TG_NPY_I64, '<'},
    {">i8", TG_NPY_I64, '>'}, {"<f4", TG_NPY_F32, '<'},
    {">f4", TG_NPY_F32, '>'}, {"<f8", TG_NPY_F64, '<'},
    {">f8", TG_NPY_F64, '>'},
};

static const char *const NPY_KEYS[3] = {"descr", "fortran_order", "shape"};
enum { NPY_KEY_DESCR, NPY_KEY_FORTRAN, NPY_KEY_SHAPE };

size_t tg_npy_dtype_size(tg_npy_dtype dtype) {
    switch (dtype) {
    case TG_NPY_U8: return 1;
    case TG_NPY_I32:
    case TG_NPY_F32: return 4;
    case TG_NPY_I64:
    case TG_NPY_F64: return 8;
    }
    return 0;
}

const char *tg_npy_dtype_name(tg_npy_dtype dtype) {
    switch (dtype) {
    case TG_NPY_U8: return "uint8";
    case TG_NPY_I32: return "int32";
    case TG_NPY_I64: return "int64";
    case TG_NPY_F32: return "float32";
    case TG_NPY_F64: return "float64";
    }
    return "?";
}

static bool npy_host_le(void) {
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static bool npy_is_ws(uint8_t c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static bool npy_is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

/* c is one of the characters of set (never NUL, unlike plain strchr). */
static bool npy_in(uint8_t c, const char *set) {
    return c != '\0' && strchr(set, c) != NULL;
}

static bool npy_is_ident(uint8_t c) {
    return npy_is_digit(c) || c == '_' || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}

/* Copy n bytes of s into buf as printable text to be shown between quote
 * characters q: other bytes, q and backslashes as \xNN, "..." when cut
 * short. */
static void npy_quote(char *buf, size_t cap, const uint8_t *s, size_t n,
                      uint8_t q) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        bool plain = c >= 0x20 && c < 0x7f && c != q && c != '\\';
        size_t need = plain ? 1 : 4;
        if (o + need + 4 > cap) { /* room for "..." and the NUL */
            snprintf(buf + o, cap - o, "...");
            return;
        }
        if (plain)
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
    }
    buf[o] = '\0';
}

/* Python's repr of a shape tuple: (), (3,), (3, 4). */
static void npy_shape_str(char *buf, size_t cap, int ndim,
                          const int64_t *shape) {
    size_t o = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "",
                              (long long)shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, ndim == 1 ? ",)" : ")");
}

/* ---- header dict scanner ---- */

typedef struct {
    const char *name; /* the file, for messages */
    const uint8_t *start, *p, *end; /* header text (without the newline) */
    tg_error *err;
} npy_lex;

static tg_status npy_fail(const npy_lex *lx, tg_status st, const char *fmt,
                          ...) __attribute__((format(printf, 3, 4)));
static tg_status npy_fail(const npy_lex *lx, tg_status st, const char *fmt,
                          ...) {
    char msg[448];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tg_error_set(lx->err, st, "%s: %s", lx->name, msg);
    return st; /* (visibly not TG_OK, for static analysers) */
}

static void npy_skip_ws(npy_lex *lx) {
    while (lx->p < lx->end && npy_is_ws(*lx->p)) lx->p++;
}

static size_t npy_pos(const npy_lex *lx) {
    return (size_t)(lx->p - lx->start);
}

/* Describe the token at from for a "found ..." message: a quoted string
 * with its quotes, or a run of other characters up to a delimiter (at
 * least one; a bracket or other delimiter alone), shown as 'abc'
 * ("'abc'" if it holds a single quote); or "the end of the header". */
static void npy_token(const npy_lex *lx, const uint8_t *from, char *buf,
                      size_t cap) {
    enum { MAX = 24 };
    if (from >= lx->end) {
        snprintf(buf, cap, "the end of the header");
        return;
    }
    const uint8_t *q = from + 1;
    if (*from == '\'' || *from == '"') {
        while (q < lx->end && q - from < MAX && *q != *from && *q != '\n') q++;
        if (q < lx->end && *q == *from) q++;
    } else if (!npy_in(*from, ",:()[]{}")) {
        while (q < lx->end && q - from < MAX && !npy_is_ws(*q) &&
               !npy_in(*q, ",:()[]{}'\""))
            q++;
    }
    size_t n = (size_t)(q - from);
    uint8_t wrap = memchr(from, '\'', n) ? '"' : '\'';
    char text[112];
    npy_quote(text, sizeof text, from, n, wrap);
    snprintf(buf, cap, "%c%s%c%s", wrap, text, wrap,
             n == MAX && q < lx->end ? "..." : "");
}

/* A quoted string without escapes; what names it for messages. */
static tg_status npy_parse_string(npy_lex *lx, const char *what,
                                  const uint8_t **s, size_t *n) {
    if (lx->p >= lx->end || (*lx->p != '\'' && *lx->p != '"')) {
        char tok[128];
        npy_token(lx, lx->p, tok, sizeof tok);
        return npy_fail(lx, TG_ERR_FORMAT,
                        "malformed header: expected %s (a quoted string) at "
                        "header byte %zu, found %s",
                        what, npy_pos(lx), tok);
    }
    uint8_t q = *lx->p++;
    const uint8_t *b = lx->p;
    while (lx->p < lx->end && *lx->p != q) {
        if (*lx->p == '\\')
            return npy_fail(lx, TG_ERR_FORMAT,
                            "malformed header: escape sequence in %s at "
                            "header byte %zu (not supported)",
                            what, npy_pos(lx));
        if (*lx->p == '\n' || *lx->p == '\r') break;
        lx->p++;
    }
    if (lx->p >= lx->end || *lx->p != q)
        return npy_fail(lx, TG_ERR_FORMAT,
                        "malformed header: unterminated string in %s at "
                        "header byte %zu",
                        what, (size_t)(b - 1 - lx->start));
    *s = b;
    *n = (size_t)(lx->p - b);
    lx->p++;
    return TG_OK;
}

/* The name of a numpy type string for messages: "float16", "object",
 * "unicode string"; NULL if it does not look like one. */
static const char *npy_descr_kind(const uint8_t *s, size_t n, char *buf,
                                  size_t cap) {
    if (n > 0 && npy_in(s[0], "<>|=")) s++, n--;
    if (n == 0) return NULL;
    size_t digits = 0;
    while (1 + digits < n && npy_is_digit(s[1 + digits])) digits++;
    int bytes = 0;
    if (digits == n - 1 && digits > 0 && digits <= 2)
        bytes = (s[1] - '0') * (digits == 2 ? 10 : 1) +
                (digits == 2 ? s[2] - '0' : 0);
    const char *base = NULL;
    switch (s[0]) {
    case 'O': return "object";
    case '?':
    case 'b': base = bytes == 1 ? "bool" : "int"; break;
    case 'i': base = "int"; break;
    case 'u': base = "uint"; break;
    case 'f': base = "float"; break;
    case 'c': base = "complex"; break;
    case 'S':
    case 'a': return "byte string";
    case 'U': return "unicode string";
    case 'V': return "void (raw bytes)";
    case 'M': return "datetime64";
    case 'm': return "timedelta64";
    default: return NULL;
    }
    if (bytes == 0 || strcmp(base, "bool") == 0) return base;
    snprintf(buf, cap, "%s%d", base, 8 * bytes);
    return buf;
}

/* Skip a bracketed literal (a structured dtype's list of fields) checking
 * only that brackets balance and strings end: it is refused anyway once
 * the whole header is known to be well formed. */
static tg_status npy_skip_nested(npy_lex *lx) {
    char stack[32];
    int depth = 0;
    size_t at = npy_pos(lx);
    while (lx->p < lx->end) {
        uint8_t c = *lx->p;
        if (c == '\'' || c == '"') {
            const uint8_t *s = NULL;
            size_t n = 0;
            tg_status st = npy_parse_string(lx, "the value of 'descr'", &s, &n);
            if (st != TG_OK) return st;
            continue;
        }
        if (c == '[' || c == '(' || c == '{') {
            if (depth == (int)sizeof stack)
                return npy_fail(lx, TG_ERR_FORMAT,
                                "malformed header: the value of 'descr' is "
                                "nested more than %d deep",
                                (int)sizeof stack);
            stack[depth++] = c == '[' ? ']' : c == '(' ? ')' : '}';
        } else if (c == ']' || c == ')' || c == '}') {
            if (depth == 0 || stack[depth - 1] != c)
                return npy_fail(lx, TG_ERR_FORMAT,
                                "malformed header: unbalanced '%c' in the "
                                "value of 'descr' at header byte %zu",
                                c, npy_pos(lx));
            if (--depth == 0) {
                lx->p++;
                return TG_OK;
            }
        }
        lx->p++;
    }
    return npy_fail(lx, TG_ERR_FORMAT,
                    "malformed header: the list in the value of 'descr' at "
                    "header byte %zu is not closed",
                    at);
}

/* The value of 'descr': a string, or a list (a structured dtype). Judged
 * by npy_check_descr once the header is known to be well formed. */
static tg_status npy_parse_descr(npy_lex *lx, npy_head *h) {
    if (lx->p < lx->end && *lx->p == '[') {
        h->structured = true;
        return npy_skip_nested(lx);
    }
    return npy_parse_string(lx, "the value of 'descr'", &h->descr_s,
                            &h->descr_n);
}

static tg_status npy_check_descr(const npy_lex *lx, npy_head *h) {
    if (h->structured)
        return npy_fail(lx, TG_ERR_UNSUPPORTED,
                        "header field 'descr': structured dtypes (a list of "
                        "fields) are not supported");
    const uint8_t *s = h->descr_s;
    size_t n = h->descr_n;
    for (size_t i = 0; i < sizeof NPY_DESCRS / sizeof NPY_DESCRS[0]; i++) {
        if (n == 3 && memcmp(s, NPY_DESCRS[i].descr, 3) == 0) {
            char order = NPY_DESCRS[i].order;
            h->dtype = NPY_DESCRS[i].dtype;
            h->itemsize = tg_npy_dtype_size(h->dtype);
            h->swap = order != '|' && (order == '<') != npy_host_le();
            memcpy(h->descr, s, 3);
            h->descr[3] = '\0';
            return TG_OK;
        }
    }
    char text[64], kbuf[32];
    npy_quote(text, sizeof text, s, n, '\'');
    const char *kind = npy_descr_kind(s, n, kbuf, sizeof kbuf);
    if (kind && strcmp(kind, "object") == 0)
        return npy_fail(lx, TG_ERR_UNSUPPORTED,
                        "header field 'descr': '%s' is an object array; "
                        "object arrays are not supported (nothing is "
                        "unpickled)",
                        text);
    return npy_fail(lx, TG_ERR_UNSUPPORTED,
                    "header field 'descr': dtype '%s'%s%s%s is not "
                    "supported (only u1, and i4, i8, f4, f8 with '<' or "
                    "'>')",
                    text, kind ? " (" : "", kind ? kind : "",
                    kind ? ")" : "");
}

static tg_status npy_parse_bool(npy_lex *lx, bool *v) {
    const uint8_t *s = lx->p;
    while (lx->p < lx->end && npy_is_ident(*lx->p)) lx->p++;
    size_t n = (size_t)(lx->p - s);
    if (n == 4 && memcmp(s, "True", 4) == 0) {
        *v = true;
        return TG_OK;
    }
    if (n == 5 && memcmp(s, "False", 5) == 0) {
        *v = false;
        return TG_OK;
    }
    char tok[128];
    npy_token(lx, s, tok, sizeof tok);
    return npy_fail(lx, TG_ERR_FORMAT,
                    "header field 'fortran_order' must be True or False, "
                    "found %s",
                    tok);
}

/* One shape entry: a non-negative decimal integer that fits in int64 (a
 * Python 2 'L' suffix is allowed, as numpy allows it). */
static tg_status npy_parse_dim(npy_lex *lx, int i, int64_t *v) {
    const uint8_t *s = lx->p;
    bool neg = false, big = false;
    if (lx->p < lx->end && *lx->p == '-') neg = true, lx->p++;
    const uint8_t *d = lx->p;
    uint64_t x = 0;
    while (lx->p < lx->end && npy_is_digit(*lx->p)) {
        unsigned dig = (unsigned)(*lx->p - '0');
        if (x > ((uint64_t)INT64_MAX - dig) / 10)
            big = true;
        else
            x = 10 * x + dig;
        lx->p++;
    }
    size_t ndig = (size_t)(lx->p - d);
    if (ndig > 0 && lx->p < lx->end && *lx->p == 'L') lx->p++;
    bool ended = lx->p >= lx->end || npy_is_ws(*lx->p) || *lx->p == ',' ||
                 *lx->p == ')';
    /* Python 3 has no leading zeros ("03" is a syntax error). */
    if (ndig == 0 || !ended || (ndig > 1 && *d == '0')) {
        char tok[128];
        npy_token(lx, s, tok, sizeof tok);
        return npy_fail(lx, TG_ERR_FORMAT,
                        "header field 'shape': entry %d is not an integer: "
                        "%s",
                        i, tok);
    }
    char text[64];
    npy_quote(text, sizeof text, s, (size_t)(lx->p - s), '\'');
    if (neg && (x != 0 || big))
        return npy_fail(lx, TG_ERR_FORMAT,
                        "header field 'shape': entry %d is negative (%s)", i,
                        text);
    if (big)
        return npy_fail(lx, TG_ERR_FORMAT,
                        "header field 'shape': entry %d (%s) is too large, "
                        "over 2^63-1",
                        i, text);
    *v = (int64_t)x;
    return TG_OK;
}

static tg_status npy_parse_shape(npy_lex *lx, npy_head *h) {
    if (lx->p >= lx->end || *lx->p != '(') {
        char tok[128];
        npy_token(lx, lx->p, tok, sizeof tok);
        return npy_fail(lx, TG_ERR_FORMAT,
                        "header field 'shape' must be a tuple of integers, "
                        "found %s",
                        tok);
    }
    lx->p++;
    npy_skip_ws(lx);
    int n = 0;
    if (lx->p < lx->end && *lx->p == ')') {
        lx->p++;
        h->ndim = 0;
        return TG_OK;
    }
    for (;;) {
        npy_skip_ws(lx);
        int64_t v = 0;
        tg_status st = npy_parse_dim(lx, n, &v);
        if (st != TG_OK) return st;
        if (n < TG_NPY_MAX_NDIM) h->shape[n] = v;
        n++;
        npy_skip_ws(lx);
        if (lx->p < lx->end && *lx->p == ',') {
            lx->p++;
            npy_skip_ws(lx);
            if (lx->p < lx->end && *lx->p == ')') break;
            continue;
        }
        if (lx->p < lx->end && *lx->p == ')') {
            if (n == 1)
                return npy_fail(lx, TG_ERR_FORMAT,
                                "header field 'shape' must be a tuple of "
                                "integers, found (%lld), which is an "
                                "integer (a 1-D shape is written (%lld,))",
                                (long long)v, (long long)v);
            break;
        }
        char tok[128];
        npy_token(lx, lx->p, tok, sizeof tok);
        return npy_fail(lx, TG_ERR_FORMAT,
                        "header field 'shape': expected ',' or ')' after "
                        "entry %d, found %s",
                        n - 1, tok);
    }
    lx->p++; /* the ')' */
    h->ndim = n; /* only the first TG_NPY_MAX_NDIM are kept; see npy_size */
    return TG_OK;
}

/* The whole header dict: exactly the three keys, each once. */
static tg_status npy_parse_dict(npy_lex *lx, npy_head *h) {
    bool seen[3] = {false, false, false};
    npy_skip_ws(lx);
    if (lx->p >= lx->end || *lx->p != '{') {
        char tok[128];
        npy_token(lx, lx->p, tok, sizeof tok);
        return npy_fail(lx, TG_ERR_FORMAT,
                        "malformed header: not a dict (expected '{', found "
                        "%s)",
                        tok);
    }
    lx->p++;
    for (;;) {
        npy_skip_ws(lx);
        if (lx->p < lx->end && *lx->p == '}') break;
        const uint8_t *ks = NULL;
        size_t kn = 0;
        tg_status st = npy_parse_string(lx, "a key", &ks, &kn);
        if (st != TG_OK) return st;
        int k = -1;
        for (int i = 0; i < 3; i++)
            if (strlen(NPY_KEYS[i]) == kn && memcmp(ks, NPY_KEYS[i], kn) == 0)
                k = i;
        char key[64];
        npy_quote(key, sizeof key, ks, kn, '\'');
        if (k < 0)
            return npy_fail(lx, TG_ERR_FORMAT,
                            "malformed header: unknown key '%s' (a .npy "
                            "header has exactly 'descr', 'fortran_order' "
                            "and 'shape')",
                            key);
        if (seen[k])
            return npy_fail(lx, TG_ERR_FORMAT,
                            "malformed header: duplicate key '%s'", key);
        seen[k] = true;
        npy_skip_ws(lx);
        if (lx->p >= lx->end || *lx->p != ':') {
            char tok[128];
            npy_token(lx, lx->p, tok, sizeof tok);
            return npy_fail(lx, TG_ERR_FORMAT,
                            "malformed header: expected ':' after key '%s', "
                            "found %s",
                            key, tok);
        }
        lx->p++;
        npy_skip_ws(lx);
        if (k == NPY_KEY_DESCR)
            st = npy_parse_descr(lx, h);
        else if (k == NPY_KEY_FORTRAN)
            st = npy_parse_bool(lx, &h->fortran);
        else
            st = npy_parse_shape(lx, h);
        if (st != TG_OK) return st;
        npy_skip_ws(lx);
        if (lx->p < lx->end && *lx->p == ',') {
            lx->p++;
            continue;
        }
        if (lx->p < lx->end && *lx->p == '}') break;
        char tok[128];
        npy_token(lx, lx->p, tok, sizeof tok);
        return npy_fail(lx, TG_ERR_FORMAT,
                        "malformed header: expected ',' or '}' after the "
                        "value of '%s', found %s",
                        key, tok);
    }
    lx->p++; /* the '}' */
    npy_skip_ws(lx);
    if (lx->p < lx->end) {
        char tok[128];
        npy_token(lx, lx->p, tok, sizeof tok);
        return npy_fail(lx, TG_ERR_FORMAT,
                        "malformed header: %s after the closing '}' at "
                        "header byte %zu",
                        tok, npy_pos(lx));
    }
    for (int i = 0; i < 3; i++)
        if (!seen[i])
            return npy_fail(lx, TG_ERR_FORMAT,
                            "malformed header: missing key '%s'",
                            NPY_KEYS[i]);
    return TG_OK;
}

/* count and nbytes from the shape, once the dtype is known: at most
 * TG_NPY_MAX_NDIM entries; a zero entry makes an empty array (the others
 * may then be anything numpy allows); otherwise the product must not
 * overflow and must stay within TG_NPY_MAX_ELEMS. */
static tg_status npy_size(const npy_lex *lx, npy_head *h) {
    if (h->ndim > TG_NPY_MAX_NDIM)
        return npy_fail(lx, TG_ERR_UNSUPPORTED,
                        "header field 'shape' has %d dimensions; at most %d "
                        "are supported",
                        h->ndim, TG_NPY_MAX_NDIM);
    bool empty = false;
    for (int i = 0; i < h->ndim; i++) empty |= h->shape[i] == 0;
    int64_t prod = 1;
    char shape[256];
    if (!empty) {
        for (int i = 0; i < h->ndim; i++) {
            if (__builtin_mul_overflow(prod, h->shape[i], &prod)) {
                npy_shape_str(shape, sizeof shape, h->ndim, h->shape);
                return npy_fail(lx, TG_ERR_FORMAT,
                                "header field 'shape': %s overflows: the "
                                "product of its entries does not fit in 64 "
                                "bits",
                                shape);
            }
        }
    } else {
        prod = 0;
    }
    if (prod > TG_NPY_MAX_ELEMS) {
        npy_shape_str(shape, sizeof shape, h->ndim, h->shape);
        return npy_fail(lx, TG_ERR_UNSUPPORTED,
                        "header field 'shape': %s has %lld elements, more "
                        "than the limit of %lld (2^31)",
                        shape, (long long)prod, (long long)TG_NPY_MAX_ELEMS);
    }
    h->count = (size_t)prod;
    if (__builtin_mul_overflow(h->count, h->itemsize, &h->nbytes)) {
        npy_shape_str(shape, sizeof shape, h->ndim, h->shape);
        return npy_fail(lx, TG_ERR_UNSUPPORTED,
                        "header field 'shape': %s of '%s' is more bytes "
                        "than a size_t holds",
                        shape, h->descr);
    }
    return TG_OK;
}

static uint32_t npy_le16(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t npy_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* Preamble and header from buf[0..n), where n covers the whole header if
 * the file has one (a prefix of the file is enough). */
static tg_status npy_parse_head(const uint8_t *buf, size_t n,
                                const char *name, npy_head *h,
                                tg_error *err) {
    memset(h, 0, sizeof *h);
    size_t m = n < NPY_MAGIC_LEN ? n : NPY_MAGIC_LEN;
    if (n == 0)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: truncated preamble: the file is empty "
                            "(expected a .npy file)",
                            name);
    if (memcmp(buf, NPY_MAGIC, m) != 0) {
        char text[32];
        npy_quote(text, sizeof text, buf, m, '\'');
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: bad magic '%s': not a .npy file (expected "
                            "'\\x93NUMPY')",
                            name, text);
    }
    if (n < 8)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: truncated preamble: %zu bytes (magic and "
                            "version need 8)",
                            name, n);
    unsigned major = buf[6], minor = buf[7];
    if (minor != 0 || major < 1 || major > 3)
        return tg_error_set(err, TG_ERR_UNSUPPORTED,
                            "%s: format version %u.%u is not supported "
                            "(only 1.0, 2.0 and 3.0)",
                            name, major, minor);
    size_t lensize = major == 1 ? 2 : 4;
    if (n < 8 + lensize)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: truncated preamble: %zu bytes (a version "
                            "%u.0 preamble has %zu)",
                            name, n, major, 8 + lensize);
    uint32_t hlen = lensize == 2 ? npy_le16(buf + 8) : npy_le32(buf + 8);
    if (hlen > TG_NPY_MAX_HEADER)
        return tg_error_set(err, TG_ERR_UNSUPPORTED,
                            "%s: header length %lu is over the limit of %d "
                            "bytes",
                            name, (unsigned long)hlen, TG_NPY_MAX_HEADER);
    size_t off = 8 + lensize;
    if (n - off < hlen)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: truncated header: the header length field "
                            "says %lu bytes but the file has %zu after the "
                            "preamble",
                            name, (unsigned long)hlen, n - off);
    if (hlen == 0 || buf[off + hlen - 1] != '\n')
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: malformed header: not terminated by a "
                            "newline (header length %lu)",
                            name, (unsigned long)hlen);
    npy_lex lx = {name, buf + off, buf + off, buf + off + hlen - 1, err};
    tg_status st = npy_parse_dict(&lx, h);
    if (st == TG_OK) st = npy_check_descr(&lx, h);
    if (st == TG_OK) st = npy_size(&lx, h);
    h->offset = off + hlen;
    return st;
}

/* ---- body ---- */

static void npy_swap(uint8_t *b, size_t count, size_t isz) {
    if (isz == 4) {
        for (size_t i = 0; i < count; i++) {
            uint32_t v;
            memcpy(&v, b + 4 * i, 4);
            v = __builtin_bswap32(v);
            memcpy(b + 4 * i, &v, 4);
        }
    } else if (isz == 8) {
        for (size_t i = 0; i < count; i++) {
            uint64_t v;
            memcpy(&v, b + 8 * i, 8);
            v = __builtin_bswap64(v);
            memcpy(b + 8 * i, &v, 8);
        }
    }
}

/* Column-major src to row-major dst. count > 0, so every dimension is >= 1
 * and every stride <= count. The C index runs with an odometer whose last
 * digit moves fastest; off follows it in Fortran element offsets. */
static void npy_f_to_c(const uint8_t *src, uint8_t *dst, size_t isz,
                       int ndim, const int64_t *shape, size_t count) {
    size_t idx[TG_NPY_MAX_NDIM] = {0}, fstride[TG_NPY_MAX_NDIM];
    size_t dim[TG_NPY_MAX_NDIM];
    for (int k = 0; k < ndim; k++) {
        dim[k] = (size_t)shape[k];
        fstride[k] = k ? fstride[k - 1] * dim[k - 1] : 1;
    }
    size_t off = 0;
    for (size_t i = 0; i < count; i++) {
        memcpy(dst + i * isz, src + off * isz, isz);
        for (int k = ndim - 1; k >= 0; k--) {
            if (++idx[k] < dim[k]) {
                off += fstride[k];
                break;
            }
            off -= (dim[k] - 1) * fstride[k];
            idx[k] = 0;
        }
    }
}

/* Take ownership of body (h->nbytes bytes, allocated with at least 1) and
 * fill out: native byte order, C order. */
static tg_status npy_finish(const npy_head *h, uint8_t *body,
                            const char *name, tg_npy *out, tg_error *err) {
    if (h->swap) npy_swap(body, h->count, h->itemsize);
    if (h->fortran && h->ndim > 1 && h->count > 0) {
        uint8_t *c = malloc(h->nbytes);
        if (!c) {
            free(body);
            return tg_error_set(err, TG_ERR_NOMEM,
                                "%s: out of memory for %zu bytes", name,
                                h->nbytes);
        }
        npy_f_to_c(body, c, h->itemsize, h->ndim, h->shape, h->count);
        free(body);
        body = c;
    }
    out->dtype = h->dtype;
    out->ndim = h->ndim;
    memcpy(out->shape, h->shape, sizeof out->shape);
    out->count = h->count;
    out->data = body;
    return TG_OK;
}

static tg_status npy_truncated(const char *name, const npy_head *h,
                               size_t have, tg_error *err) {
    char shape[256];
    npy_shape_str(shape, sizeof shape, h->ndim, h->shape);
    return tg_error_set(err, TG_ERR_FORMAT,
                        "%s: truncated body: shape %s of '%s' needs %zu "
                        "bytes but the file has %zu after the header",
                        name, shape, h->descr, h->nbytes, have);
}

static tg_status npy_trailing(const char *name, const npy_head *h,
                              size_t extra, bool at_least, tg_error *err) {
    char shape[256];
    npy_shape_str(shape, sizeof shape, h->ndim, h->shape);
    return tg_error_set(err, TG_ERR_FORMAT,
                        "%s: trailing bytes: shape %s of '%s' needs %zu "
                        "bytes but %s%zu more follow the body (the file "
                        "size must match the header exactly)",
                        name, shape, h->descr, h->nbytes,
                        at_least ? "at least " : "", extra);
}

tg_status tg_npy_parse(const void *buf, size_t n, const char *name,
                       tg_npy *out, tg_error *err) {
    TG_ASSERT(out);
    memset(out, 0, sizeof *out);
    if (!name) name = "<buffer>";
    if (!buf && n > 0)
        return tg_error_set(err, TG_ERR_ARG, "%s: NULL buffer of %zu bytes",
                            name, n);
    npy_head h;
    tg_status st = npy_parse_head(buf, n, name, &h, err);
    if (st != TG_OK) return st;
    size_t have = n - h.offset;
    if (have < h.nbytes) return npy_truncated(name, &h, have, err);
    if (have > h.nbytes)
        return npy_trailing(name, &h, have - h.nbytes, false, err);
    uint8_t *body = malloc(h.nbytes ? h.nbytes : 1);
    if (!body)
        return tg_error_set(err, TG_ERR_NOMEM,
                            "%s: out of memory for %zu bytes", name,
                            h.nbytes);
    if (h.nbytes) memcpy(body, (const uint8_t *)buf + h.offset, h.nbytes);
    return npy_finish(&h, body, name, out, err);
}

/* fread that reports a stream error as TG_ERR_IO; a short count with no
 * error is end of file. */
static tg_status npy_fread(FILE *f, const char *path, uint8_t *buf,
                           size_t want, size_t *got, tg_error *err) {
    errno = 0;
    *got = fread(buf, 1, want, f);
    if (*got < want && ferror(f))
        return tg_error_set(err, TG_ERR_IO, "%s: read error: %s", path,
                            errno ? strerror(errno) : "unknown error");
    return TG_OK;
}

/* Bytes left before end of file, counted up to a cap. */
static tg_status npy_count_rest(FILE *f, const char *path, size_t *rest,
                                tg_error *err) {
    uint8_t scratch[4096];
    *rest = 0;
    for (;;) {
        size_t got = 0;
        tg_status st = npy_fread(f, path, scratch, sizeof scratch, &got, err);
        if (st != TG_OK) return st;
        *rest += got;
        if (got < sizeof scratch || *rest >= NPY_TRAILING_COUNT_MAX)
            return TG_OK;
    }
}

/* The body of h: the npre bytes that followed the header in the prefix
 * already read, then the rest of f; end of file must come right after. */
static tg_status npy_read_body(FILE *f, const char *path, const npy_head *h,
                               const uint8_t *pre, size_t npre,
                               uint8_t **out, tg_error *err) {
    size_t size = h->nbytes, rest = 0;
    tg_status st;
    if (npre > size) {
        st = npy_count_rest(f, path, &rest, err);
        if (st != TG_OK) return st;
        return npy_trailing(path, h, npre - size + rest,
                            rest >= NPY_TRAILING_COUNT_MAX, err);
    }
    size_t cap = size < NPY_FIRST_ALLOC ? size : NPY_FIRST_ALLOC;
    if (cap < npre) cap = npre;
    uint8_t *buf = malloc(cap ? cap : 1);
    if (!buf)
        return tg_error_set(err, TG_ERR_NOMEM,
                            "%s: out of memory for %zu bytes", path, cap);
    if (npre) memcpy(buf, pre, npre);
    size_t have = npre;
    while (have < size) {
        if (have == cap) {
            size_t ncap = cap > size / 2 ? size : 2 * cap;
            uint8_t *nbuf = realloc(buf, ncap);
            if (!nbuf) {
                st = tg_error_set(err, TG_ERR_NOMEM,
                                  "%s: out of memory for %zu bytes", path,
                                  ncap);
                goto fail;
            }
            buf = nbuf;
            cap = ncap;
        }
        size_t got = 0, want = cap - have;
        st = npy_fread(f, path, buf + have, want, &got, err);
        if (st != TG_OK) goto fail;
        have += got;
        if (got < want) break; /* end of file */
    }
    if (have < size) {
        st = npy_truncated(path, h, have, err);
        goto fail;
    }
    st = npy_count_rest(f, path, &rest, err);
    if (st != TG_OK) goto fail;
    if (rest > 0) {
        st = npy_trailing(path, h, rest, rest >= NPY_TRAILING_COUNT_MAX, err);
        goto fail;
    }
    *out = buf;
    return TG_OK;
fail:
    free(buf);
    return st;
}

tg_status tg_npy_read(const char *path, tg_npy *out, tg_error *err) {
    TG_ASSERT(out);
    memset(out, 0, sizeof *out);
    if (!path || !*path)
        return tg_error_set(err, TG_ERR_ARG, "no path given for the .npy "
                                             "file");
    errno = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return tg_error_set(err, errno == ENOMEM ? TG_ERR_NOMEM : TG_ERR_IO,
                            "%s: cannot open: %s", path,
                            errno ? strerror(errno) : "fopen failed");
    uint8_t *pre = malloc(NPY_PREFIX_MAX);
    uint8_t *body = NULL;
    tg_status st;
    if (!pre) {
        st = tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    size_t got = 0;
    st = npy_fread(f, path, pre, NPY_PREFIX_MAX, &got, err);
    if (st != TG_OK) goto done;
    npy_head h;
    st = npy_parse_head(pre, got, path, &h, err);
    if (st != TG_OK) goto done;
    st = npy_read_body(f, path, &h, pre + h.offset, got - h.offset, &body,
                       err);
    if (st != TG_OK) goto done;
    st = npy_finish(&h, body, path, out, err);
done:
    free(pre);
    fclose(f); /* read-only: nothing left to report */
    return st;
}

void tg_npy_free(tg_npy *a) {
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---- conversions ---- */

/* Smallest magnitude a double rounds up from to float infinity:
 * FLT_MAX plus half an ulp (ties round to even, which is infinity). */
#define NPY_F32_OVERFLOW 0x1.ffffffp127

/* Check a (a caller-built struct may be anything) and allocate the output
 * for its count elements of elem bytes; NULL with *st set on failure. */
static void *npy_alloc_out(const tg_npy *a, size_t elem, tg_status *st,
                           tg_error *err) {
    void *r = NULL;
    if ((unsigned)a->dtype > TG_NPY_F64)
        *st = tg_error_set(err, TG_ERR_ARG, "unknown npy dtype %d",
                           (int)a->dtype);
    else if (a->count > 0 && !a->data)
        *st = tg_error_set(err, TG_ERR_ARG,
                           "npy array of %zu elements has no data", a->count);
    else if (a->count > SIZE_MAX / elem)
        *st = tg_error_set(err, TG_ERR_ARG,
                           "npy array of %zu elements is too large",
                           a->count);
    else if (!(r = malloc(a->count ? a->count * elem : 1)))
        *st = tg_error_set(err, TG_ERR_NOMEM,
                           "out of memory for %zu elements", a->count);
    else
        *st = TG_OK;
    return r;
}

tg_status tg_npy_to_f32(const tg_npy *a, float **out, tg_error *err) {
    TG_ASSERT(a && out);
    tg_status st = TG_OK;
    float *r = npy_alloc_out(a, sizeof *r, &st, err);
    *out = NULL;
    if (!r) return st;
    size_t n = a->count;
    switch (a->dtype) {
    case TG_NPY_U8:
        for (size_t i = 0; i < n; i++) r[i] = ((const uint8_t *)a->data)[i];
        break;
    case TG_NPY_I32:
        for (size_t i = 0; i < n; i++)
            r[i] = (float)((const int32_t *)a->data)[i];
        break;
    case TG_NPY_I64:
        for (size_t i = 0; i < n; i++)
            r[i] = (float)((const int64_t *)a->data)[i];
        break;
    case TG_NPY_F32:
        if (n) memcpy(r, a->data, n * sizeof *r);
        break;
    case TG_NPY_F64:
        for (size_t i = 0; i < n; i++) {
            double v = ((const double *)a->data)[i];
            if (isfinite(v) && fabs(v) >= NPY_F32_OVERFLOW) {
                free(r);
                return tg_error_set(err, TG_ERR_ARG,
                                    "element %zu = %.17g of the float64 "
                                    "array is out of float32 range",
                                    i, v);
            }
            r[i] = (float)v;
        }
        break;
    }
    *out = r;
    return TG_OK;
}

/* A double to int32 if it is integral and in range. */
static tg_status npy_d_to_i32(double v, size_t i, const char *from,
                              int32_t *r, tg_error *err) {
    if (isnan(v) || isinf(v))
        return tg_error_set(err, TG_ERR_NUMERIC,
                            "element %zu = %g of the %s array is not finite: "
                            "cannot convert to int32",
                            i, v, from);
    if (v < -2147483648.0 || v > 2147483647.0)
        return tg_error_set(err, TG_ERR_ARG,
                            "element %zu = %.17g of the %s array is out of "
                            "int32 range",
                            i, v, from);
    if (trunc(v) != v)
        return tg_error_set(err, TG_ERR_ARG,
                            "element %zu = %.17g of the %s array is not an "
                            "integer: cannot convert to int32",
                            i, v, from);
    *r = (int32_t)v;
    return TG_OK;
}

tg_status tg_npy_to_i32(const tg_npy *a, int32_t **out, tg_error *err) {
    TG_ASSERT(a && out);
    tg_status st = TG_OK;
    int32_t *r = npy_alloc_out(a, sizeof *r, &st, err);
    *out = NULL;
    if (!r) return st;
    size_t n = a->count;
    const char *from = tg_npy_dtype_name(a->dtype);
    switch (a->dtype) {
    case TG_NPY_U8:
        for (size_t i = 0; i < n; i++) r[i] = ((const uint8_t *)a->data)[i];
        break;
    case TG_NPY_I32:
        if (n) memcpy(r, a->data, n * sizeof *r);
        break;
    case TG_NPY_I64:
        for (size_t i = 0; i < n && st == TG_OK; i++) {
            int64_t v = ((const int64_t *)a->data)[i];
            if (v < INT32_MIN || v > INT32_MAX)
                st = tg_error_set(err, TG_ERR_ARG,
                                  "element %zu = %lld of the int64 array is "
                                  "out of int32 range",
                                  i, (long long)v);
            else
                r[i] = (int32_t)v;
        }
        break;
    case TG_NPY_F32:
        for (size_t i = 0; i < n && st == TG_OK; i++)
            st = npy_d_to_i32(((const float *)a->data)[i], i, from, &r[i],
                              err);
        break;
    case TG_NPY_F64:
        for (size_t i = 0; i < n && st == TG_OK; i++)
            st = npy_d_to_i32(((const double *)a->data)[i], i, from, &r[i],
                              err);
        break;
    }
    if (st != TG_OK) {
        free(r);
        return st;
    }
    *out = r;
    return TG_OK;
}

/* ---- writer ---- */

static int npy_write_all(int fd, const void *buf, size_t n) {
    const uint8_t *p = buf;
    while (n > 0) {
        size_t chunk = n < ((size_t)1 << 30) ? n : (size_t)1 << 30;
        ssize_t w = write(fd, p, chunk);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The body in little-endian order: as is on a little-endian host, else
 * swapped through a bounce buffer. */
static int npy_write_body(int fd, const void *data, size_t count,
                          size_t isz) {
    if (isz == 1 || npy_host_le()) return npy_write_all(fd, data, count * isz);
    uint8_t tmp[1 << 16];
    size_t per = sizeof tmp / isz;
    for (size_t i = 0; i < count; i += per) {
        size_t k = count - i < per ? count - i : per;
        memcpy(tmp, (const uint8_t *)data + i * isz, k * isz);
        npy_swap(tmp, k, isz);
        if (npy_write_all(fd, tmp, k * isz) != 0) return -1;
    }
    return 0;
}

/* Make the rename durable. Best effort: the new file is already in place
 * and some file systems refuse fsync on a directory. */
static void npy_sync_dir(char *path) {
    char *slash = strrchr(path, '/');
    const char *dir = ".";
    if (slash) {
        slash[slash == path ? 1 : 0] = '\0';
        dir = path;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    (void)fsync(fd);
    close(fd);
}

tg_status tg_npy_write(const char *path, tg_npy_dtype dtype, int ndim,
                       const int64_t *shape, const void *data,
                       tg_error *err) {
    if (!path || !*path)
        return tg_error_set(err, TG_ERR_ARG,
                            "no path given for the .npy file");
    if ((unsigned)dtype > TG_NPY_F64)
        return tg_error_set(err, TG_ERR_ARG, "%s: unknown npy dtype %d", path,
                            (int)dtype);
    if (ndim < 0 || ndim > TG_NPY_MAX_NDIM)
        return tg_error_set(err, TG_ERR_ARG,
                            "%s: ndim %d is outside 0..%d", path, ndim,
                            TG_NPY_MAX_NDIM);
    if (ndim > 0 && !shape)
        return tg_error_set(err, TG_ERR_ARG, "%s: NULL shape", path);
    bool empty = false;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return tg_error_set(err, TG_ERR_ARG,
                                "%s: shape[%d] = %lld is negative", path, i,
                                (long long)shape[i]);
        empty |= shape[i] == 0;
    }
    int64_t count = empty ? 0 : 1;
    for (int i = 0; i < ndim && !empty; i++)
        if (__builtin_mul_overflow(count, shape[i], &count) ||
            count > TG_NPY_MAX_ELEMS)
            return tg_error_set(err, TG_ERR_ARG,
                                "%s: shape has more than %lld elements",
                                path, (long long)TG_NPY_MAX_ELEMS);
    if (count > 0 && !data)
        return tg_error_set(err, TG_ERR_ARG, "%s: NULL data for %lld "
                                             "elements",
                            path, (long long)count);
    size_t isz = tg_npy_dtype_size(dtype);

    /* Preamble and header, padded with spaces to NPY_WRITE_ALIGN. */
    static const char *const descr[] = {"|u1", "<i4", "<i8", "<f4", "<f8"};
    char dict[320], shp[256], hdr[448];
    npy_shape_str(shp, sizeof shp, ndim, shape);
    int dn = snprintf(dict, sizeof dict,
                      "{'descr': '%s', 'fortran_order': False, "
                      "'shape': %s, }",
                      descr[dtype], shp);
    TG_ASSERT(dn > 0 && (size_t)dn < sizeof dict);
    size_t total = 10 + (size_t)dn + 1;
    total = (total + NPY_WRITE_ALIGN - 1) / NPY_WRITE_ALIGN * NPY_WRITE_ALIGN;
    TG_ASSERT(total <= sizeof hdr);
    size_t hlen = total - 10;
    memcpy(hdr, NPY_MAGIC "\x01\x00", 8);
    hdr[8] = (char)(hlen & 0xff);
    hdr[9] = (char)(hlen >> 8);
    memcpy(hdr + 10, dict, (size_t)dn);
    memset(hdr + 10 + dn, ' ', hlen - (size_t)dn - 1);
    hdr[total - 1] = '\n';

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    const char *what = "create"; /* the step that failed, for the message */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) goto fail;
    what = "write";
    if (npy_write_all(fd, hdr, total) != 0 ||
        npy_write_body(fd, data, (size_t)count, isz) != 0)
        goto fail;
    what = "sync";
    if (fsync(fd) != 0) goto fail;
    what = "close";
    int rc = close(fd);
    fd = -1;
    if (rc != 0) goto fail;
    what = "rename";
    if (rename(tmp, path) != 0) goto fail;
    npy_sync_dir(tmp); /* tmp is scratch now: cut to the directory */
    free(tmp);
    return TG_OK;
fail:;
    int e = errno;
    if (fd >= 0) close(fd);
    if (strcmp(what, "create") != 0) unlink(tmp);
    tg_status st = tg_error_set(err, TG_ERR_IO,
                                "%s: cannot %s %s: %s (any previous file at "
                                "%s is unchanged)",
                                path, what, tmp, strerror(e), path);
    free(tmp);
    return st;
}
