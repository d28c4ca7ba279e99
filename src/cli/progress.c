/* progress.c - the long commands' progress display (see progress.h). */
#include "progress.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void tg_progress_init(tg_progress *p, const char *cmd) {
    memset(p, 0, sizeof *p);
    snprintf(p->cmd, sizeof p->cmd, "%s", cmd);
    p->tty = isatty(2);
    p->t0 = mono();
    p->last_line = -INFINITY;
    p->last_ended = -1;
}

double tg_progress_elapsed(const tg_progress *p) { return mono() - p->t0; }

void tg_progress_time(double s, char *buf, size_t n) {
    if (!isfinite(s) || s < 0) snprintf(buf, n, "?");
    else if (s < 60) snprintf(buf, n, "%.0fs", s);
    else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
}

/* Columns of the terminal less one (the cursor's), 79 when unknown. */
static int width(void) {
    struct winsize ws;
    if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1) return ws.ws_col - 1;
    return 79;
}

static void draw(tg_progress *p) {
    fprintf(stderr, "\r\033[K%.*s", width(), p->line);
    fflush(stderr);
    p->drawn = 1;
}

void tg_progress_show(tg_progress *p, const char *text, int64_t ended, int force) {
    snprintf(p->line, sizeof p->line, "%s", text);
    if (p->tty) {
        draw(p);
        return;
    }
    double now = mono();
    if (!force && ended == p->last_ended && now - p->last_line < TG_PROGRESS_LOG_EVERY_S)
        return;
    fprintf(stderr, "%s: %s\n", p->cmd, p->line);
    fflush(stderr);
    p->last_line = now;
    p->last_ended = ended;
}

void tg_progress_log(tg_progress *p, const char *line) {
    fprintf(stderr, "%s%s: %s\n", p->drawn ? "\r\033[K" : "", p->cmd, line);
    if (p->drawn) draw(p);
    else fflush(stderr);
}

void tg_progress_log_fn(void *user, const char *line) { tg_progress_log(user, line); }

void tg_progress_end(tg_progress *p) {
    if (p->drawn) fputc('\n', stderr);
    p->drawn = 0;
}
