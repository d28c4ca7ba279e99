/* report_page.c - the HTML file: src/report/page.html with its slots
 * ({{name}}) filled by the styles, the three libraries, the page's script,
 * the data and the title, written atomically (a browser that reloads while
 * `tgsage report --watch` rewrites it sees the old file or the new one). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"
#include "tgsage/fileio.h"

extern const char tg_report_asset_vega[], tg_report_asset_vega_end[];
extern const char tg_report_asset_vegalite[], tg_report_asset_vegalite_end[];
extern const char tg_report_asset_vegaembed[], tg_report_asset_vegaembed_end[];
extern const char tg_report_asset_page_html[], tg_report_asset_page_html_end[];
extern const char tg_report_asset_page_js[], tg_report_asset_page_js_end[];
extern const char tg_report_asset_page_css[], tg_report_asset_page_css_end[];

tg_rp_asset tg_rp_asset_get(tg_rp_asset_id id) {
    const char *a = NULL, *e = NULL;
    switch (id) {
    case TG_RP_VEGA: a = tg_report_asset_vega, e = tg_report_asset_vega_end; break;
    case TG_RP_VEGALITE: a = tg_report_asset_vegalite, e = tg_report_asset_vegalite_end; break;
    case TG_RP_VEGAEMBED: a = tg_report_asset_vegaembed, e = tg_report_asset_vegaembed_end; break;
    case TG_RP_PAGE_HTML: a = tg_report_asset_page_html, e = tg_report_asset_page_html_end; break;
    case TG_RP_PAGE_JS: a = tg_report_asset_page_js, e = tg_report_asset_page_js_end; break;
    case TG_RP_PAGE_CSS: a = tg_report_asset_page_css, e = tg_report_asset_page_css_end; break;
    }
    TG_ASSERT(a && e >= a);
    return (tg_rp_asset){a, (size_t)(e - a)};
}

static void put_asset_js(tg_rp_buf *b, tg_rp_asset_id id) {
    tg_rp_asset a = tg_rp_asset_get(id);
    tg_rp_put_js(b, a.data, a.n);
}

/* One slot of the template. 0 when the name is not one of them. */
static int put_slot(tg_rp_buf *b, const char *name, size_t len, const char *title,
                    double refresh_s, const char *json) {
#define IS(s) (len == sizeof(s) - 1 && !memcmp(name, s, len))
    if (IS("title")) tg_rp_put_html(b, title);
    else if (IS("refresh")) {
        if (refresh_s > 0) {
            char meta[96];
            /* whole seconds: what http-equiv refresh reads */
            long s = refresh_s < 1 ? 1 : (long)(refresh_s + 0.5);
            snprintf(meta, sizeof meta, "<meta http-equiv=\"refresh\" content=\"%ld\">", s);
            tg_rp_puts(b, meta);
        }
    } else if (IS("css")) {
        tg_rp_asset a = tg_rp_asset_get(TG_RP_PAGE_CSS);
        tg_rp_put(b, a.data, a.n);
    } else if (IS("vega")) put_asset_js(b, TG_RP_VEGA);
    else if (IS("vegalite")) put_asset_js(b, TG_RP_VEGALITE);
    else if (IS("vegaembed")) put_asset_js(b, TG_RP_VEGAEMBED);
    else if (IS("app")) put_asset_js(b, TG_RP_PAGE_JS);
    else if (IS("data")) tg_rp_put_json_script(b, json);
    else return 0;
    return 1;
#undef IS
}

tg_status tg_rp_page_write(const char *path, const char *title, double refresh_s,
                           const cJSON *data, tg_error *err) {
    char *json = cJSON_PrintUnformatted(data);
    if (!json) return tg_error_set(err, TG_ERR_NOMEM, "report: out of memory for the data");
    tg_rp_asset page = tg_rp_asset_get(TG_RP_PAGE_HTML);
    tg_rp_buf b = {0};
    const char *s = page.data, *end = page.data + page.n;
    while (s < end) {
        const char *open = strstr(s, "{{");
        const char *close = open ? strstr(open + 2, "}}") : NULL;
        if (!open || !close) {
            tg_rp_put(&b, s, (size_t)(end - s));
            break;
        }
        tg_rp_put(&b, s, (size_t)(open - s));
        /* the template is this code's own: an unknown slot is a bug */
        TG_ASSERT(put_slot(&b, open + 2, (size_t)(close - open - 2), title, refresh_s, json));
        s = close + 2;
    }
    cJSON_free(json);
    if (b.failed) {
        free(b.p);
        return tg_error_set(err, TG_ERR_NOMEM, "report: out of memory for the page");
    }
    tg_status st = tg_file_write(path, b.p, b.n, err);
    free(b.p);
    return st;
}
