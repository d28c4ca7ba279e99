/* testutil.h - helpers shared by the cmocka test programs. */
#ifndef TG_TESTUTIL_H
#define TG_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tgsage/rng.h"

/* Path of a committed fixture: $TG_FIXTURES/name (static buffer). */
const char *tu_fixture(const char *name);
/* A fresh temporary directory (removed by tu_rmtree); static buffer. */
const char *tu_tmpdir(void);
void tu_rmtree(const char *dir);
/* Write bytes to path; returns 0 on success. */
int tu_write_file(const char *path, const void *data, size_t n);
void tu_fill_uniform(tg_rng *r, float *a, size_t n, float lo, float hi);
/* Largest |a-b| / (atol + rtol*|b|); <= 1 means within tolerance. */
double tu_max_err(const float *a, const float *b, size_t n, double atol,
                  double rtol);

/* Run `$TG_BIN ARGS` (default ./tgsage), stdout and stderr into tu_out;
 * returns the exit code. */
extern char tu_out[65536];
/* In a child process that is about to mount a tmpfs of its own: a private
 * mount namespace (as root; otherwise inside a user namespace where it is
 * root), so the mount is its alone and vanishes with it. 0 on success, else
 * 1 with the reason in msg. */
int tu_private_mounts(char *msg, size_t n);

int tu_run(const char *args);
/* tu_run, then fail unless the exit code is `code` and the output holds want */
void tu_expect(const char *args, int code, const char *want);

#endif
