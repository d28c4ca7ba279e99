/* npy_header.c - the preamble and the header dict of a .npy file, see
 * npy.h and npy_internal.h.
 *
 * tg_npy_head_parse checks the preamble and parses the header dict from a
 * buffer that holds at least the header. The dict is parsed as a literal
 * by a small recursive-descent scanner: strings, True/False and a tuple of
 * integers are all it accepts, so nothing is ever evaluated. The body size
 * is computed with overflow checks and capped before anything is allocated.
 * Header text is latin-1 (1.0, 2.0) or UTF-8 (3.0); the two differ only in
 * non-ASCII bytes, which are legal only inside strings here, and every
 * string this reader accepts is ASCII, so neither encoding is decoded. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "npy_internal.h"

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

bool tg_npy_host_le(void) {
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

void tg_npy_swap(uint8_t *b, size_t count, size_t isz) {
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
void tg_npy_shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
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
static tg_status npy_parse_descr(npy_lex *lx, tg_npy_head *h) {
    if (lx->p < lx->end && *lx->p == '[') {
        h->structured = true;
        return npy_skip_nested(lx);
    }
    return npy_parse_string(lx, "the value of 'descr'", &h->descr_s,
                            &h->descr_n);
}

static tg_status npy_check_descr(const npy_lex *lx, tg_npy_head *h) {
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
            h->swap = order != '|' && (order == '<') != tg_npy_host_le();
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

static tg_status npy_parse_shape(npy_lex *lx, tg_npy_head *h) {
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
static tg_status npy_parse_dict(npy_lex *lx, tg_npy_head *h) {
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
static tg_status npy_size(const npy_lex *lx, tg_npy_head *h) {
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
                tg_npy_shape_str(shape, sizeof shape, h->ndim, h->shape);
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
        tg_npy_shape_str(shape, sizeof shape, h->ndim, h->shape);
        return npy_fail(lx, TG_ERR_UNSUPPORTED,
                        "header field 'shape': %s has %lld elements, more "
                        "than the limit of %lld (2^31)",
                        shape, (long long)prod, (long long)TG_NPY_MAX_ELEMS);
    }
    h->count = (size_t)prod;
    if (__builtin_mul_overflow(h->count, h->itemsize, &h->nbytes)) {
        tg_npy_shape_str(shape, sizeof shape, h->ndim, h->shape);
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

/* ---- preamble and header ---- */

tg_status tg_npy_head_parse(const uint8_t *buf, size_t n, const char *name, tg_npy_head *h,
                            tg_error *err) {
    memset(h, 0, sizeof *h);
    size_t m = n < TG_NPY_MAGIC_LEN ? n : TG_NPY_MAGIC_LEN;
    if (n == 0)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: truncated preamble: the file is empty "
                            "(expected a .npy file)",
                            name);
    if (memcmp(buf, TG_NPY_MAGIC, m) != 0) {
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
