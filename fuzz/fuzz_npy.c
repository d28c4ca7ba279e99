/* fuzz_npy.c - libFuzzer target: .npy parsing and the conversions a dataset
 * applies to what was parsed. */
#include <stdint.h>
#include <stdlib.h>

#include "tgsage/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tg_npy a;
    tg_error err;
    if (tg_npy_parse(data, size, "fuzz", &a, &err) != TG_OK) return 0;
    float *f = NULL;
    int32_t *i = NULL;
    if (tg_npy_to_f32(&a, &f, &err) == TG_OK) free(f);
    if (tg_npy_to_i32(&a, &i, &err) == TG_OK) free(i);
    tg_npy_free(&a);
    return 0;
}
