/* export.h - a searched network as files other tools read.
 *
 * tg_export_pytorch writes a directory holding a self-contained PyTorch
 * module that computes the same function as a trained tgsage genome net
 * (docs/formats.md, "PyTorch export"):
 *   model.py             class Net(torch.nn.Module) built from the genome
 *                        (embedded as a JSON literal) by the rules of
 *                        docs/spaces.md, load(directory) -> Net, and
 *                        standardize(x), tgsage's per-image preprocessing;
 *   weights.safetensors  the weights under their PyTorch state_dict names;
 *   genome.json          the canonical genome;
 *   README.md            how to load and run it.
 * Every file is written atomically (fileio.h: PATH.tmp.PID, fsync, rename).
 *
 * tg_export_onnx writes any trained net, genome or built-in, as one ONNX
 * model (docs/formats.md, "ONNX export").
 *
 * tg_safetensors_write is the writer underneath, usable on its own. */
#ifndef TGSAGE_EXPORT_H
#define TGSAGE_EXPORT_H

#include <stdint.h>

#include "tgsage/error.h"
#include "tgsage/graph.h"

/* ---- safetensors ------------------------------------------------------ */

typedef enum { TG_ST_F32, TG_ST_I64 } tg_st_dtype;

typedef struct {
    const char *name;      /* unique, non-empty, not "__metadata__" */
    tg_st_dtype dtype;
    int ndim;              /* 0 (a scalar) .. 8 */
    int64_t dims[8];
    const void *data;      /* float or int64_t, host order, product(dims) values */
} tg_st_tensor;

/* Write a safetensors file: u64 little-endian header length N, a JSON
 * header {"__metadata__": {...}, name: {"dtype", "shape", "data_offsets"},
 * ...} padded with spaces so that 8 + N is a multiple of 8, then the data,
 * little-endian, without holes. Tensors are laid out by decreasing element
 * size (I64 before F32), otherwise in the given order, so every tensor
 * starts at a multiple of its element size; the header lists them in that
 * order. meta is NULL or a NULL-terminated list of key, value strings
 * (safetensors metadata is string to string). Atomic (tg_atomic). */
tg_status tg_safetensors_write(const char *path, const tg_st_tensor *t, int n,
                               const char *const *meta, tg_error *err);

/* ---- PyTorch ----------------------------------------------------------- */

typedef struct {
    const char *space;     /* the space spec to validate the genome against
                            * (tg_space_parse); NULL or "": the one it names */
    int64_t steps;         /* SGD steps trained: BatchNorm's num_batches_tracked
                            * (0 if unknown) */
    const char *source;    /* where the weights come from (a checkpoint path),
                            * recorded in the metadata and README; NULL: none */
} tg_export_options;

/* Export `net`, a net built from genome_json (tg_genome_build) and trained,
 * to directory dir (created if missing, existing files replaced). The
 * input shape and the number of classes are the net's. The genome is
 * parsed and validated (against opt->space, or the space it names); the
 * net's parameters
 * must carry the module paths of that genome's build (a built-in net such
 * as resnet:3, whose parameters are named by node, is refused), with the
 * same shapes. opt may be NULL. */
tg_status tg_export_pytorch(const char *genome_json, tg_net *net,
                            const tg_export_options *opt, const char *dir,
                            tg_error *err);

/* ---- ONNX --------------------------------------------------------------- */

/* Write `net` as an ONNX model (opset 13, IR 7) to dir/model.onnx (dir
 * created if missing), atomically: the
 * net's own graph node by node (Conv, BatchNormalization with the running
 * statistics, Relu, MaxPool, AveragePool without the padding, Global-
 * AveragePool, Add, Pad + Concat, Flatten + Gemm), its parameters as
 * initializers under their names, input "input" (N, C, H, W) with N
 * symbolic, output "logits" (N, classes); named nodes (the observed
 * layers) keep their names as tensor names. Metadata: producer, steps
 * (opt->steps), source, and, when genome_json is given (it is validated
 * like tg_export_pytorch's), its space, hash and canonical JSON.
 * genome_json and opt may be NULL. */
tg_status tg_export_onnx(tg_net *net, const char *genome_json, const tg_export_options *opt,
                         const char *dir, tg_error *err);

#endif
