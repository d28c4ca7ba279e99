/* common_opts.c - the options the commands that run a network share:
 * --ckpt, --batch, --threads, --backend, --json. One parser and one help
 * text, so that every command spells, checks and documents them alike. */
#include <string.h>

#include "cli.h"
#include "tgsage/backend.h"

int tg_cli_common_option(const char *cmd, int ch, const char *arg, tg_cli_common *o,
                         int *bad) {
    *bad = 0;
    switch (ch) {
    case 'k': o->ckpt = arg; return 1;
    case 'b': *bad = tg_cli_int(cmd, "--batch", arg, 1, 65536, &o->batch); return 1;
    case 't': *bad = tg_cli_int(cmd, "--threads", arg, 0, 1024, &o->threads); return 1;
    case 'B':
        if (!tg_backend_find(arg) || strlen(arg) >= sizeof o->backend) {
            fprintf(stderr, "tgsage %s: --backend '%s': expected dnnl or ref\n", cmd, arg);
            *bad = 1;
        } else {
            snprintf(o->backend, sizeof o->backend, "%s", arg);
        }
        return 1;
    case 'j': o->json = 1; return 1;
    }
    return 0;
}

void tg_cli_common_help(FILE *f, const tg_cli_common *def, const char *batch_what,
                        const char *json_what) {
    fprintf(f,
            "  --batch B           %s [%ld]\n"
            "  --threads T         threads, 0 = all cores [%ld]\n"
            "  --backend NAME      convolution backend: dnnl or ref [%s]\n"
            "  --json              %s\n",
            batch_what, def->batch, def->threads, def->backend, json_what);
}

int tg_cli_split_list(char *text, char **names, int max) {
    int n = 0;
    for (char *p = text;; p++) {
        char *end = strchr(p, ',');
        if (end) *end = '\0';
        if (!*p || n == max) return -1;
        names[n++] = p;
        if (!end) return n;
        p = end;
    }
}
