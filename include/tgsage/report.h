/* report.h - one self-contained HTML file of a database's studies: search
 * progress against trials and against cost (the paper's Figure 3), the
 * pool's predictivity (Figure 2), the best architecture drawn (Figure 6),
 * teacher and candidate RDMs (Figure 1), a sortable table of trials and a
 * cost table (Table 2). The plots are Vega-Lite specifications drawn by
 * vega, vega-lite and vega-embed, inlined in the file (built into tgsage
 * from web/), so the page opens offline. */
#ifndef TGSAGE_REPORT_H
#define TGSAGE_REPORT_H

#include "tgsage/error.h"
#include "tgsage/tracker.h"

typedef struct {
    const char *study;        /* the study shown first (its best architecture, its
                               * RDMs, its trials); NULL: the first search study
                               * (algo random, tpe, rl or evolution) by id, else
                               * the first study */
    double refresh_s;         /* > 0: the page reloads itself every refresh_s
                               * seconds, rounded to whole ones, at least 1
                               * (tgsage report --watch) */
} tg_report_config;

/* Write the report of every study in t to path (atomically: a reader never
 * sees half a file). The page's data is one JSON document inside it
 * (<script type="application/json" id="tg-data">, every '<', '>' and '&' as
 * \u escapes), computed here so that it can be checked against the
 * database (src/report/report.c says what each section holds). A section
 * the database cannot give (no search, no pool, a study without teacher or
 * complete trial, a teacher file or genome that does not read, a pool the
 * analysis refuses) is a line of text on the page, not an error. Errors:
 * TG_ERR_NOT_FOUND for a c->study the database lacks (naming the studies
 * there are), TG_ERR_DB, TG_ERR_NOMEM, and TG_ERR_IO for the file. The
 * teacher is read through a temporary file in $TMPDIR (or /tmp). */
tg_status tg_report_write(tg_tracker *t, const tg_report_config *c, const char *path,
                          tg_error *err);

#endif
