/*
 * fit.h — "will it run here?": the memory a model needs against this machine's memory.
 *
 * From a GGUF file's metadata and tensor table: weight bytes (every tensor; they are
 * mapped from the file), the KV cache for a context (keys and values for every layer,
 * position and KV head: 2 * n_layer * n_ctx * n_head_kv * head_dim * bytes per value,
 * times the parallel sequences), and the working buffers llm_ctx_new allocates (the
 * activation rows for a 512-token batch, logits, attention scores, the quantized
 * activation scratch). The sum is compared with /proc/meminfo; the generation speed bound
 * is memory bandwidth divided by the bytes one token reads (weights, less all but one row
 * of an untied embedding table, plus one sequence's full KV cache).
 *
 * Verdicts: "fits" (the total plus 10% headroom is within available memory), "tight"
 * (within total memory, but only if other programs give memory back or the weights page
 * in and out), "does not fit" (more than the machine has).
 */
#ifndef HEARTH_HUB_FIT_H
#define HEARTH_HUB_FIT_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "formats/gguf.h"

#define FIT_BATCH 512 /* activation rows the runtime allocates (llm_ctx_default_params) */

typedef struct fit_model {
    char arch[32];
    char weight_type[16];   /* "Q4_K_M" (general.file_type) or the type holding most bytes */
    uint64_t params;
    uint64_t weights_bytes; /* all tensors */
    uint64_t step_bytes;    /* weights one generation step reads */
    int n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx_train;
    uint64_t scratch_bytes; /* quantized-activation scratch for a FIT_BATCH-row batch */
} fit_model;

/* Read the shape of a decoder model; HEARTH_ERR_UNSUPPORTED naming what is missing. */
hearth_status fit_model_from_gguf(const gguf_file *g, fit_model *m, hearth_error *err);
/* The weight type in a word (see fit_model.weight_type); works for any GGUF. */
void fit_weight_type(const gguf_file *g, char out[16]);

typedef struct fit_params {
    int n_ctx;      /* <= 0: the training context */
    int n_parallel; /* sequences, >= 1 */
    int kv_type;    /* TQ_F16 or TQ_Q8_0 */
    int n_threads;  /* attention scratch is per thread */
} fit_params;

fit_params fit_default_params(void);

typedef struct fit_memory {
    uint64_t total, available; /* bytes */
} fit_memory;

/* Parse a meminfo file (MemTotal, MemAvailable; path is /proc/meminfo outside tests). */
hearth_status fit_read_meminfo(const char *path, fit_memory *mem, hearth_error *err);

typedef enum fit_verdict { FIT_FITS, FIT_TIGHT, FIT_NO } fit_verdict;

/* The verdict for need bytes against a memory (rules above). */
fit_verdict fit_judge(uint64_t need, const fit_memory *mem);

/* A GPU and its memory. hearth computes on the CPU, so a GPU never changes the verdict;
 * `hearth fit` reports whether the model would fit in the GPU's memory, for a GPU runner. */
#define FIT_MAX_GPUS 8
typedef struct fit_gpu {
    char name[64];
    fit_memory mem;
} fit_gpu;

/* Parse the output of `nvidia-smi --query-gpu=name,memory.total,memory.free
 * --format=csv,noheader,nounits` (one GPU per line, sizes in MiB) into gpus[n ..]; lines
 * that do not parse are skipped. Returns the new count (at most max). */
int fit_parse_nvidia_smi(const char *text, fit_gpu *gpus, int n, int max);
/* AMD GPUs under a DRM sysfs root (/sys/class/drm outside tests): cardN/device/
 * mem_info_vram_total and mem_info_vram_used, in bytes. Appends as above. */
int fit_read_drm(const char *root, fit_gpu *gpus, int n, int max);
/* The GPUs of this machine (nvidia-smi when it is installed, then DRM sysfs). */
int fit_detect_gpus(fit_gpu *gpus, int max);

typedef struct fit_report {
    fit_params params;        /* with n_ctx resolved */
    uint64_t weights_bytes, kv_cache_bytes, buffer_bytes, total_bytes;
    uint64_t memory_total, available_bytes;
    fit_verdict verdict;
    uint64_t bytes_per_token;
    double tokens_per_s;      /* speed bound; 0 when the bandwidth is unknown */
    /* Suggestions when the verdict is not "fits" (0 / false / "" when none helps): */
    int suggest_ctx;          /* the largest power-of-two context (>= 256) that fits */
    bool suggest_q8_kv;       /* a Q8_0 KV cache would make it fit */
    char suggest_type[16];    /* a smaller weight type that would fit ... */
    uint64_t suggest_type_bytes; /* ... and its approximate weight bytes */
} fit_report;

uint64_t fit_kv_bytes(const fit_model *m, int n_ctx, int n_parallel, int kv_type);
uint64_t fit_buffer_bytes(const fit_model *m, const fit_params *p);
/* Fill r. HEARTH_ERR_UNSUPPORTED for a KV type the model's head size cannot use. */
hearth_status fit_compute(const fit_model *m, fit_params p, const fit_memory *mem,
                          double bandwidth_gbs, fit_report *r, hearth_error *err);
const char *fit_verdict_str(fit_verdict v); /* "fits", "tight", "does not fit" */

#endif
