/* threads.h - the one place that sets how many threads tgsage uses.
 *
 * OpenMP loops, OpenBLAS and oneDNN all follow this setting. BLAS is only
 * called outside OpenMP parallel regions, so the two pools never run at once
 * and the machine is never oversubscribed. */
#ifndef TGSAGE_THREADS_H
#define TGSAGE_THREADS_H

/* n <= 0 means all online cores. Returns the count in force. */
int tg_threads_set(int n);
int tg_threads_get(void);

#endif
