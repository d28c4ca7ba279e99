/* report_escape.c - the page's byte buffer and the three ways text enters
 * the HTML file: as HTML (entities), as JSON data inside a <script> element
 * (no "<" at all, so nothing can close it), and as a library's script
 * (a literal "</script" broken up). Everything the database holds (study
 * names, error texts, teacher layer names) reaches the page only through
 * the first two; the page's own script renders it with textContent. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "report_internal.h"

void tg_rp_put(tg_rp_buf *b, const void *data, size_t n) {
    if (b->failed || n == 0) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void tg_rp_puts(tg_rp_buf *b, const char *s) { tg_rp_put(b, s, strlen(s)); }

void tg_rp_put_html(tg_rp_buf *b, const char *s) {
    for (const char *run = s;; s++) {
        const char *ent = NULL;
        switch (*s) {
        case '&': ent = "&amp;"; break;
        case '<': ent = "&lt;"; break;
        case '>': ent = "&gt;"; break;
        case '"': ent = "&quot;"; break;
        case '\'': ent = "&#39;"; break;
        case '\0': break;
        default: continue;
        }
        tg_rp_put(b, run, (size_t)(s - run));
        if (!*s) return;
        tg_rp_puts(b, ent);
        run = s + 1;
    }
}

void tg_rp_put_json_script(tg_rp_buf *b, const char *s) {
    for (const char *run = s;; s++) {
        const char *esc = NULL;
        size_t skip = 1;
        unsigned char c = (unsigned char)*s;
        if (c == '<') esc = "\\u003c";
        else if (c == '>') esc = "\\u003e";
        else if (c == '&') esc = "\\u0026";
        else if (c == 0xE2 && (unsigned char)s[1] == 0x80 &&
                 ((unsigned char)s[2] == 0xA8 || (unsigned char)s[2] == 0xA9)) {
            /* line and paragraph separators: valid in JSON, not in older
             * JavaScript string literals; harmless escaped */
            esc = (unsigned char)s[2] == 0xA8 ? "\\u2028" : "\\u2029";
            skip = 3;
        } else if (c != '\0') continue;
        tg_rp_put(b, run, (size_t)(s - run));
        if (!c) return;
        tg_rp_puts(b, esc);
        s += skip - 1;
        run = s + 1;
    }
}

void tg_rp_put_js(tg_rp_buf *b, const char *js, size_t n) {
    /* a final "//# sourceMappingURL=..." line points at a file the page
     * does not have */
    static const char MAP[] = "//# sourceMappingURL=";
    const char *end = js + n;
    while (end > js && (end[-1] == '\n' || end[-1] == '\r')) end--;
    const char *line = end;
    while (line > js && line[-1] != '\n') line--;
    if ((size_t)(end - line) >= sizeof MAP - 1 && !memcmp(line, MAP, sizeof MAP - 1)) end = line;
    const char *run = js;
    for (const char *p = js; p + 8 <= end; p++) {
        if (p[0] != '<' || p[1] != '/' || strncasecmp(p + 2, "script", 6) != 0) continue;
        tg_rp_put(b, run, (size_t)(p + 1 - run));
        tg_rp_puts(b, "\\");
        run = p + 1;
    }
    tg_rp_put(b, run, (size_t)(end - run));
}
