/* random.c - random search: every active dimension uniform over its
 * choices, so each possible connection is present with p = 0.5. It keeps no
 * state of its own: the explorer's RNG and history are all there is. */
#include "explorer_internal.h"

static tg_status random_propose(tg_explorer *e, int *x, tg_error *err) {
    (void)err;
    tg_explorer_random_point(e, x);
    return TG_OK;
}

const tg_algo tg_algo_random = {
    .name = "random",
    .propose = random_propose,
};
