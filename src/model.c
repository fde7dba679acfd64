/*
 * Models on disk (docs/model-format.md): a fixed little-endian layout with a
 * version and an FNV-1a checksum, written through a temporary file and an
 * atomic rename.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "network.h"

static const uint8_t MAGIC[8] = {'n', 'n', 'm', 'o', 'd', 'e', 'l', 0};
#define VERSION 1u
#define MAX_LAYERS 1024u
#define HEADER_BYTES 24 /* magic, version, layers, loss, reserved */

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* Bytes of a file for `layers` layers holding `params` parameters. */
static int file_size(size_t layers, size_t params, size_t *out)
{
    size_t s = HEADER_BYTES, t;
    return nn_mul_size(layers + 1, 8, &t) && nn_add_size(s, t, &s) && nn_mul_size(layers, 4, &t) &&
           nn_add_size(s, t, &s) && nn_mul_size(params, 4, &t) && nn_add_size(s, t, &s) &&
           nn_add_size(s, 8, out);
}

static nn_status encode(const nn_network *net, uint8_t **out, size_t *size)
{
    const size_t L = net->n_layers;
    size_t n;
    if (!file_size(L, net->n_params, &n)) return NN_ERR_OVERFLOW;
    uint8_t *buf = malloc(n), *p = buf;
    if (!buf) return NN_ERR_OUT_OF_MEMORY;
    memcpy(p, MAGIC, 8);
    put_u32(p + 8, VERSION);
    put_u32(p + 12, (uint32_t)L);
    put_u32(p + 16, (uint32_t)net->loss);
    put_u32(p + 20, 0);
    p += HEADER_BYTES;
    put_u64(p, net->layers[0].in), p += 8;
    for (size_t l = 0; l < L; l++) put_u64(p, net->layers[l].out), p += 8;
    for (size_t l = 0; l < L; l++) put_u32(p, (uint32_t)net->layers[l].act), p += 4;
    for (size_t i = 0; i < net->n_params; i++) {
        uint32_t bits;
        memcpy(&bits, &net->params[i], 4);
        put_u32(p, bits), p += 4;
    }
    put_u64(p, fnv1a(buf, n - 8));
    *out = buf, *size = n;
    return NN_OK;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        const ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return 0;
        p += w, n -= (size_t)w;
    }
    return 1;
}

/* A save killed between creating its temporary and renaming it leaves
 * PATH.tmp.<pid>.XXXXXX behind. The next save of PATH removes those whose
 * process no longer exists (a live one may be a concurrent save: kept).
 * Best effort: a directory that cannot be listed is left alone. */
static void remove_stale_temps(const char *path)
{
    /* stack buffers: a cleanup that could fail for memory must not fail the
     * save (paths longer than these are left alone) */
    char dirname[4096], full[4096];
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const size_t blen = strlen(base);
    if (!slash) snprintf(dirname, sizeof dirname, ".");
    else if (slash == path) snprintf(dirname, sizeof dirname, "/");
    else if ((size_t)(slash - path) < sizeof dirname) snprintf(dirname, sizeof dirname, "%.*s", (int)(slash - path), path);
    else return;
    DIR *dir = opendir(dirname);
    struct dirent *e;
    while (dir && (e = readdir(dir))) {
        const char *n = e->d_name;
        if (strncmp(n, base, blen) != 0 || strncmp(n + blen, ".tmp.", 5) != 0) continue;
        const char *digits = n + blen + 5;
        char *end;
        errno = 0;
        const long pid = strtol(digits, &end, 10);
        if (end == digits || *end != '.' || strlen(end + 1) != 6 || pid <= 0 || errno) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to judge */
        if ((size_t)snprintf(full, sizeof full, "%s/%s", dirname, n) < sizeof full) unlink(full);
    }
    if (dir) closedir(dir);
}

/* Write n bytes to `path` through PATH.tmp.<pid>.XXXXXX, fsync, rename and
 * a directory fsync: readers see the old file or the new one. */
static nn_status write_atomically(const char *path, const uint8_t *buf, size_t n)
{
    remove_stale_temps(path);
    const size_t tlen = strlen(path) + 40;
    char *tmp = malloc(tlen);
    if (!tmp) return NN_ERR_OUT_OF_MEMORY;
    snprintf(tmp, tlen, "%s.tmp.%ld.XXXXXX", path, (long)getpid());
    const int fd = mkstemp(tmp);
    int ok = fd >= 0;
    ok = ok && write_all(fd, buf, n) && fsync(fd) == 0;
    if (fd >= 0 && close(fd) != 0) ok = 0;
    ok = ok && rename(tmp, path) == 0;
    const int saved = errno;
    if (!ok && fd >= 0) unlink(tmp);
    if (ok) { /* make the rename itself durable */
        char *slash = strrchr(tmp, '/');
        if (slash) *slash = '\0';
        const int dir = open(slash ? (slash == tmp ? "/" : tmp) : ".", O_RDONLY);
        if (dir >= 0) {
            fsync(dir);
            close(dir);
        }
    }
    free(tmp);
    errno = saved;
    return ok ? NN_OK : NN_ERR_IO;
}

nn_status nn_save(const nn_network *net, const char *path)
{
    if (!net || !path || !*path) return NN_ERR_INVALID_ARGUMENT;
    /* nn_load refuses non-finite parameters: a file it cannot read back
     * must not replace a good one */
    if (!nn_all_finite(net->n_params, 1, net->params, net->n_params)) return NN_ERR_NON_FINITE;
    uint8_t *buf;
    size_t n;
    nn_status s = encode(net, &buf, &n);
    if (s) return s;
    s = write_atomically(path, buf, n);
    free(buf);
    return s;
}

nn_status nn_load_memory(nn_network **out, const void *data, size_t size)
{
    if (!out || (!data && size)) return NN_ERR_INVALID_ARGUMENT;
    const uint8_t *p = data;
    if (size < HEADER_BYTES) return size >= 8 && memcmp(p, MAGIC, 8) != 0 ? NN_ERR_FORMAT : NN_ERR_TRUNCATED;
    if (memcmp(p, MAGIC, 8) != 0) return NN_ERR_FORMAT;
    if (get_u32(p + 8) != VERSION) return NN_ERR_VERSION;
    const uint32_t L = get_u32(p + 12), loss = get_u32(p + 16);
    if (L == 0 || L > MAX_LAYERS || loss > NN_CROSS_ENTROPY || get_u32(p + 20) != 0) return NN_ERR_FORMAT;
    size_t min_size;
    if (!file_size(L, 0, &min_size)) return NN_ERR_FORMAT;
    if (size < min_size) return NN_ERR_TRUNCATED;
    size_t sizes[MAX_LAYERS + 1], params = 0;
    nn_activation acts[MAX_LAYERS];
    const uint8_t *q = p + HEADER_BYTES;
    for (uint32_t l = 0; l <= L; l++, q += 8) {
        const uint64_t v = get_u64(q);
        if (v == 0 || v > SIZE_MAX) return NN_ERR_FORMAT;
        sizes[l] = (size_t)v;
    }
    for (uint32_t l = 0; l < L; l++, q += 4) {
        const uint32_t a = get_u32(q);
        if (a >= NN_ACTIVATION_COUNT) return NN_ERR_FORMAT;
        acts[l] = (nn_activation)a;
        size_t w;
        if (!nn_mul_size(sizes[l], sizes[l + 1], &w) || !nn_add_size(w, sizes[l + 1], &w) ||
            !nn_add_size(params, w, &params))
            return NN_ERR_FORMAT;
    }
    size_t want;
    if (!file_size(L, params, &want)) return NN_ERR_FORMAT;
    if (size < want) return NN_ERR_TRUNCATED;
    if (size > want) return NN_ERR_FORMAT;
    if (get_u64(p + want - 8) != fnv1a(p, want - 8)) return NN_ERR_CHECKSUM;

    nn_network *net;
    nn_status s = nn_network_create(&net, L, sizes, acts, (nn_loss)loss, 0);
    if (s == NN_ERR_INVALID_ARGUMENT || s == NN_ERR_OVERFLOW) return NN_ERR_FORMAT;
    if (s) return s;
    for (size_t i = 0; i < params; i++, q += 4) {
        const uint32_t bits = get_u32(q);
        memcpy(&net->params[i], &bits, 4);
    }
    if (!nn_all_finite(params, 1, net->params, params)) {
        nn_network_destroy(net);
        return NN_ERR_NON_FINITE;
    }
    *out = net;
    return NN_OK;
}

/* The whole file in a malloc'ed buffer; NN_ERR_IO (errno kept) or
 * NN_ERR_OUT_OF_MEMORY. */
static nn_status read_file(const char *path, uint8_t **out, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NN_ERR_IO;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0) {
        fclose(f);
        return NN_ERR_IO;
    }
    const size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return NN_ERR_OUT_OF_MEMORY;
    }
    const size_t got = fread(buf, 1, n, f);
    const int err = ferror(f), saved = errno;
    fclose(f);
    if (err || got != n) {
        free(buf);
        errno = saved;
        return NN_ERR_IO;
    }
    *out = buf, *size = n;
    return NN_OK;
}

nn_status nn_load(nn_network **out, const char *path)
{
    if (!out || !path) return NN_ERR_INVALID_ARGUMENT;
    uint8_t *buf;
    size_t size;
    nn_status s = read_file(path, &buf, &size);
    if (s) return s;
    s = nn_load_memory(out, buf, size);
    free(buf);
    return s;
}

/* ---- checkpoints: the model, the optimizer and where training stands ---- */

static const uint8_t CKPT_MAGIC[8] = {'n', 'n', 'c', 'k', 'p', 't', 0, 0};
#define CKPT_FIXED (8 + 4 + 4 + 8)          /* magic, version, reserved, model bytes */
#define CKPT_OPT (4 + 5 * 4 + 8 + 8)        /* kind, 5 hyper-parameters, steps, next epoch */

static size_t state_arrays(nn_optimizer_kind kind) { return kind == NN_ADAM ? 2 : kind == NN_MOMENTUM ? 1 : 0; }

nn_status nn_checkpoint_save(const nn_network *net, size_t next_epoch, const char *path)
{
    if (!net || !path || !*path || !nn_optimizer_whole(net)) return NN_ERR_INVALID_ARGUMENT;
    if (!nn_all_finite(net->n_params, 1, net->params, net->n_params)) return NN_ERR_NON_FINITE;
    uint8_t *model;
    size_t model_n;
    nn_status s = encode(net, &model, &model_n);
    if (s) return s;
    const size_t arrays = state_arrays(net->opt.kind), P = net->n_params;
    size_t n, t;
    if (!nn_mul_size(arrays * 4, P, &t) || !nn_add_size(CKPT_FIXED + CKPT_OPT + 8, model_n, &n) ||
        !nn_add_size(n, t, &n)) {
        free(model);
        return NN_ERR_OVERFLOW;
    }
    uint8_t *buf = malloc(n), *p = buf;
    if (!buf) {
        free(model);
        return NN_ERR_OUT_OF_MEMORY;
    }
    memcpy(p, CKPT_MAGIC, 8);
    put_u32(p + 8, 1), put_u32(p + 12, 0), put_u64(p + 16, model_n);
    p += CKPT_FIXED;
    memcpy(p, model, model_n), p += model_n;
    free(model);
    const float hyper[5] = {net->opt.momentum, net->opt.beta1, net->opt.beta2, net->opt.epsilon, net->opt.weight_decay};
    put_u32(p, (uint32_t)net->opt.kind), p += 4;
    for (int i = 0; i < 5; i++, p += 4) {
        uint32_t bits;
        memcpy(&bits, &hyper[i], 4);
        put_u32(p, bits);
    }
    put_u64(p, net->opt_steps), p += 8;
    put_u64(p, next_epoch), p += 8;
    for (size_t a = 0; a < arrays; a++) {
        const float *src = a ? net->opt_v : net->opt_m;
        for (size_t i = 0; i < P; i++, p += 4) {
            uint32_t bits;
            memcpy(&bits, &src[i], 4);
            put_u32(p, bits);
        }
    }
    put_u64(p, fnv1a(buf, n - 8));
    s = write_atomically(path, buf, n);
    free(buf);
    return s;
}

nn_status nn_checkpoint_load(nn_network **out, size_t *next_epoch, const char *path)
{
    if (!out || !next_epoch || !path) return NN_ERR_INVALID_ARGUMENT;
    uint8_t *buf;
    size_t size;
    nn_status s = read_file(path, &buf, &size);
    if (s) return s;
    nn_network *net = NULL;
    size_t model_n = 0;
    if (!s && size < CKPT_FIXED) s = size >= 8 && memcmp(buf, CKPT_MAGIC, 8) ? NN_ERR_FORMAT : NN_ERR_TRUNCATED;
    if (!s && memcmp(buf, CKPT_MAGIC, 8) != 0) s = NN_ERR_FORMAT;
    if (!s && get_u32(buf + 8) != 1) s = NN_ERR_VERSION;
    if (!s) {
        const uint64_t mn = get_u64(buf + 16);
        if (mn > size - CKPT_FIXED) s = NN_ERR_TRUNCATED;
        else model_n = (size_t)mn;
    }
    if (!s && size - CKPT_FIXED - model_n < CKPT_OPT + 8) s = NN_ERR_TRUNCATED;
    if (!s && get_u64(buf + size - 8) != fnv1a(buf, size - 8)) s = NN_ERR_CHECKSUM;
    if (!s) s = nn_load_memory(&net, buf + CKPT_FIXED, model_n);
    if (!s) {
        const uint8_t *p = buf + CKPT_FIXED + model_n;
        nn_optimizer o = {.kind = (nn_optimizer_kind)get_u32(p)};
        float hyper[5];
        for (int i = 0; i < 5; i++) {
            const uint32_t bits = get_u32(p + 4 + 4 * i);
            memcpy(&hyper[i], &bits, 4);
        }
        o.momentum = hyper[0], o.beta1 = hyper[1], o.beta2 = hyper[2], o.epsilon = hyper[3], o.weight_decay = hyper[4];
        const uint64_t steps = get_u64(p + 24), epoch = get_u64(p + 32);
        p += CKPT_OPT;
        const size_t arrays = get_u32(buf + CKPT_FIXED + model_n) <= NN_ADAM ? state_arrays(o.kind) : 0;
        const size_t P = net->n_params;
        if (get_u32(buf + CKPT_FIXED + model_n) > NN_ADAM) s = NN_ERR_FORMAT;
        else if ((size_t)(buf + size - 8 - p) != arrays * 4 * P) s = NN_ERR_FORMAT;
        else if (epoch > SIZE_MAX) s = NN_ERR_FORMAT;
        else if ((s = nn_set_optimizer(net, &o))) s = s == NN_ERR_OUT_OF_MEMORY ? s : NN_ERR_FORMAT;
        for (size_t a = 0; !s && a < arrays; a++) {
            float *dst = a ? net->opt_v : net->opt_m;
            for (size_t i = 0; i < P; i++, p += 4) {
                const uint32_t bits = get_u32(p);
                memcpy(&dst[i], &bits, 4);
            }
            if (!nn_all_finite(P, 1, dst, P)) s = NN_ERR_NON_FINITE;
        }
        if (!s) net->opt_steps = steps, *next_epoch = (size_t)epoch;
    }
    free(buf);
    if (s) {
        nn_network_destroy(net);
        return s;
    }
    *out = net;
    return NN_OK;
}
