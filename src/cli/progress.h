/* progress.h - the one progress display of the long commands (search,
 * rerank, pool, teacher), on stderr:
 *   a terminal (isatty(2)): one line rewritten in place ("\r\033[K"),
 *       cut to the terminal's width so that it never wraps (a wrapped
 *       line could not be erased);
 *   piped: a plain log line when the count of ended trials changes, when
 *       forced, or otherwise at most every 10 s; never a carriage return.
 * Lines of the library (tg_progress_log) interleave cleanly: on a terminal
 * the progress line is erased, the log line printed, and the progress
 * line drawn again below it. */
#ifndef TGSAGE_CLI_PROGRESS_H
#define TGSAGE_CLI_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

#define TG_PROGRESS_LOG_EVERY_S 10.0

typedef struct {
    char cmd[32];            /* prefixes log lines: "search: ..." */
    int tty;
    int drawn;               /* a progress line is on the terminal now */
    double t0;               /* monotonic seconds at init */
    double last_line;        /* piped: when the last progress line went out */
    int64_t last_ended;      /* piped: the ended count it showed (-1: none yet) */
    char line[512];          /* the progress text last shown */
} tg_progress;

void tg_progress_init(tg_progress *p, const char *cmd);
/* Show the state (text without a newline); ended: trials ended so far, or
 * -1 when the command has none; force: a line now even when piped. */
void tg_progress_show(tg_progress *p, const char *text, int64_t ended, int force);
/* A line from the library or the command (without the newline). */
void tg_progress_log(tg_progress *p, const char *line);
/* tg_log_fn for the library: user is the tg_progress. */
void tg_progress_log_fn(void *user, const char *line);
/* Leave the progress line (a newline after it on a terminal). */
void tg_progress_end(tg_progress *p);
/* Seconds since init. */
double tg_progress_elapsed(const tg_progress *p);
/* 42s, 3m05s, 2h10m; "?" for NaN. */
void tg_progress_time(double s, char *buf, size_t n);

#endif
