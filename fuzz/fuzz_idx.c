/* fuzz_idx.c - libFuzzer target: the IDX reader (plain and gzip'd input)
 * must refuse or accept any bytes without crashing, leaking or overrunning.
 * The reader takes paths (it reads through zlib), so each input goes to a
 * per-process temporary file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tgsage/idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    if (!path[0])  /* tmpfs where there is one: the reader opens files */
        snprintf(path, sizeof path, "%s/tgsage-fuzz-idx-%d",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    tg_idx_images im;
    tg_idx_labels lb;
    tg_error err;
    if (tg_idx_read_images(path, &im, &err) == TG_OK) tg_idx_images_free(&im);
    if (tg_idx_read_labels(path, 10, &lb, &err) == TG_OK) tg_idx_labels_free(&lb);
    return 0;
}
