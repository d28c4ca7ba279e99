/* fuzz_cifar.c - libFuzzer target: CIFAR-10 and CIFAR-100 record parsing. */
#include <stdint.h>
#include <stdlib.h>

#include "tgsage/cifar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const tg_cifar_kind kinds[3] = {TG_CIFAR10, TG_CIFAR100_FINE, TG_CIFAR100_COARSE};
    for (int k = 0; k < 3; k++) {
        uint8_t *px = NULL;
        int32_t *lb = NULL;
        int64_t n = 0;
        tg_error err;
        tg_cifar_parse(data, size, "fuzz", kinds[k], &px, &lb, &n, &err);
        free(px);
        free(lb);
    }
    return 0;
}
