/* url.c - database URLs safe to print: tg_url_redact (tracker.h).
 *
 * Two places hold a password: the userinfo of scheme://user:PASSWORD@host
 * (the authority ends at the first '/', as libpq reads it; the last '@'
 * before it ends the userinfo, so an unencoded '@' in a password is still
 * hidden), and a password=VALUE parameter (after '?', '&' or a space, up to
 * the next '&', space or '#'). Both become "***"; the rest is kept as it
 * is, and the output is truncated to n - 1 bytes and always terminated. */
#include <string.h>

#include "tgsage/tracker.h"

typedef struct {
    char *out;
    size_t n, len;
} sink;

static void put(sink *s, const char *p, size_t k) {
    while (k-- > 0 && s->len + 1 < s->n) s->out[s->len++] = *p++;
}

static int is_password_key(const char *url, const char *p) {
    static const char key[] = "password=";
    if (strncmp(p, key, sizeof key - 1) != 0) return 0;
    return p > url && (p[-1] == '?' || p[-1] == '&' || p[-1] == ' ');
}

void tg_url_redact(const char *url, char *out, size_t n) {
    if (!out || n == 0) return;
    out[0] = '\0';
    if (!url) return;
    sink s = {out, n, 0};
    const char *p = url;
    const char *scheme = strstr(url, "://");
    if (scheme) {
        const char *auth = scheme + 3;
        const char *end = auth + strcspn(auth, "/");
        const char *at = NULL;
        for (const char *q = auth; q < end; q++)
            if (*q == '@') at = q;
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon && colon + 1 < at) {
            put(&s, url, (size_t)(colon + 1 - url));
            put(&s, "***", 3);
            p = at;
        }
    }
    while (*p) {
        if (is_password_key(url, p)) {
            put(&s, "password=***", 12);
            p += 9;
            p += strcspn(p, "& #");
            continue;
        }
        put(&s, p, 1);
        p++;
    }
    out[s.len] = '\0';
}
