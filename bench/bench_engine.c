/* bench_engine.c - training and inference throughput of one built-in network
 * (resnet:N, small3, or the genome candidate6) or of a genome file.
 *
 * The C side of the engine benchmark: the same measurement as
 * ../shared/bench/torch_baseline.py (random 28x28x1 inputs, SGD Nesterov
 * 0.9 with weight decay 5e-4, 3 warm-up steps, then `steps` timed training
 * steps, then eval-mode inference over the same batch). Prints one JSON line.
 * bench/run_bench.py runs it beside PyTorch and computes the ratios.
 * With --genome FILE the network is that genome's, and --export DIR also
 * writes it (as initialised) as a PyTorch module, so that
 * bench/bench_genomes.py times the same network in PyTorch.
 * With --loader it measures instead how fast the background loader delivers
 * augmented Fashion-MNIST batches (images/s). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "tgsage/export.h"
#include "tgsage/fileio.h"
#include "tgsage/loader.h"
#include "tgsage/optim.h"
#include "tgsage/threads.h"
#include "tgsage/trainer.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static void die(const char *what, const tg_error *e) {
    fprintf(stderr, "bench: %s: %s\n", what, e->msg);
    exit(1);
}

/* Augmented batches of Fashion-MNIST's training split, as the trainer
 * consumes them: the loader thread's throughput. */
static int bench_loader(int batch, int steps) {
    tg_dataset d;
    tg_error err;
    if (tg_dataset_load("fashion-mnist", "train", &d, &err) != TG_OK) die("loader", &err);
    tg_augment aug = {4, 1};
    tg_loader *l = tg_loader_new(&d, batch, 1, &aug, 1, &err);
    if (!l) die("loader", &err);
    const float *x;
    const int32_t *y;
    double sum = 0;
    tg_loader_next(l, &x, &y);  /* warm up the thread */
    double t0 = now_s();
    long imgs = 0;
    for (int s = 0; s < steps; s++) {
        int n = tg_loader_next(l, &x, &y);
        sum += x[0];
        imgs += n;
    }
    double img_s = imgs / (now_s() - t0);
    printf("{\"name\": \"loader\", \"batch\": %d, \"augment\": true, \"img_s\": %.1f, "
           "\"checksum\": %g}\n", batch, img_s, sum);
    tg_loader_free(l);
    tg_dataset_free(&d);
    return 0;
}

int main(int argc, char **argv) {
    const char *name = "candidate6", *backend = "dnnl", *genome = NULL, *export_dir = NULL;
    int batch = 128, steps = 20, threads = 2;
    int loader = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--loader")) loader = 1;
        else if (v && !strcmp(argv[i], "--net")) name = v, i++;
        else if (v && !strcmp(argv[i], "--genome")) genome = v, i++;
        else if (v && !strcmp(argv[i], "--export")) export_dir = v, i++;
        else if (v && !strcmp(argv[i], "--batch")) batch = atoi(v), i++;
        else if (v && !strcmp(argv[i], "--steps")) steps = atoi(v), i++;
        else if (v && !strcmp(argv[i], "--threads")) threads = atoi(v), i++;
        else if (v && !strcmp(argv[i], "--backend")) backend = v, i++;
        else {
            fprintf(stderr, "usage: tgsage_bench [--net NAME | --genome FILE [--export DIR]] "
                            "[--batch B] [--steps S] [--threads T] [--backend dnnl|ref] "
                            "[--loader]\n");
            return 2;
        }
    }
    if (export_dir && !genome) {
        fprintf(stderr, "bench: --export needs --genome\n");
        return 2;
    }
    if (batch < 1 || steps < 1) {
        fprintf(stderr, "bench: batch and steps must be positive\n");
        return 2;
    }
    threads = tg_threads_set(threads);
    if (loader) return bench_loader(batch, steps * 10);
    tg_error err;
    const tg_backend *be = tg_backend_find(backend);
    if (!be) {
        fprintf(stderr, "bench: unknown backend %s\n", backend);
        return 2;
    }
    /* a built-in name as `tgsage train --net` takes it (candidate6 is a
     * genome of the layer-wise space) */
    tg_net_source src;
    unsigned char *text = NULL;
    if (genome) {
        size_t len;
        if (tg_file_read(genome, 1 << 20, &text, &len, &err) != TG_OK) die(genome, &err);
        name = genome;
    }
    if (tg_net_source_resolve(name, (const char *)text, NULL, &src, &err) != TG_OK)
        die(name, &err);
    free(text);
    tg_graph *g = tg_net_source_build(&src, 1, 28, 28, 10, &err);
    if (!g) die(name, &err);
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_net *net = tg_net_new(g, batch, be, &rng, &err);
    if (!net) die(name, &err);
    if (export_dir && tg_export_pytorch(src.genome, net, NULL, export_dir, &err) != TG_OK)
        die(export_dir, &err);
    tg_net_source_free(&src);
    tg_opt_config oc = {.kind = TG_OPT_SGD, .momentum = 0.9, .nesterov = 1,
                        .weight_decay = 5e-4};
    tg_optim *opt = tg_optim_new(&oc, net, &err);
    if (!opt) die(name, &err);
    float *x = malloc(sizeof(float) * batch * 28 * 28);
    int32_t *y = malloc(sizeof(int32_t) * batch);
    for (int i = 0; i < batch * 28 * 28; i++) x[i] = tg_rng_normal(&rng);
    for (int i = 0; i < batch; i++) y[i] = (int32_t)tg_rng_below(&rng, 10);

    double t0 = 0;
    for (int s = 0; s < steps + 3; s++) {
        if (s == 3) t0 = now_s();
        double loss;
        if (tg_net_forward(net, x, batch, 1, &err) != TG_OK ||
            tg_net_loss(net, y, &loss, NULL, &err) != TG_OK)
            die(name, &err);
        tg_net_backward(net);
        tg_optim_step(opt, 0.05);
    }
    double train = batch * steps / (now_s() - t0);
    for (int s = 0; s < steps + 2; s++) {
        if (s == 2) t0 = now_s();
        if (tg_net_forward(net, x, batch, 0, &err) != TG_OK) die(name, &err);
    }
    double infer = batch * steps / (now_s() - t0);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"name\": \"%s\", \"batch\": %d, \"threads\": %d, \"backend\": \"%s\", "
           "\"train_img_s\": %.1f, \"infer_img_s\": %.1f, \"peak_rss_mb\": %.1f}\n",
           name, batch, threads, be->name, train, infer, ru.ru_maxrss / 1024.0);
    free(x);
    free(y);
    tg_optim_free(opt);
    tg_net_free(net);
    tg_graph_free(g);
    return 0;
}
