/* threads.c - thread count for OpenMP, OpenBLAS and oneDNN (see threads.h). */
#include "tgsage/threads.h"

#include <omp.h>
#include <unistd.h>

void openblas_set_num_threads(int num_threads);  /* cblas.h of OpenBLAS */

int tg_threads_set(int n) {
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    omp_set_num_threads(n);        /* also oneDNN: Debian builds it on OpenMP */
    openblas_set_num_threads(n);
    return n;
}

int tg_threads_get(void) { return omp_get_max_threads(); }
