/*
 * IDX files (the MNIST family): a big-endian header — magic 0x00000800 | type
 * << 8 | dims, with type 0x08 (unsigned byte) — then each dimension as a
 * big-endian u32, then the bytes. Images have 3 dimensions (count, rows,
 * cols), labels 1. Read gzipped with zlib; every size is checked against the
 * data actually present.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "internal.h"

/* Larger than any real data set, small enough that a corrupt header cannot
 * ask for absurd allocations: 2^31 items, 2^16 rows/cols. */
#define MAX_COUNT (1ull << 31)
#define MAX_SIDE (1u << 16)

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Parse the header; *header_bytes and the dimensions on success. */
static nn_status parse_header(const uint8_t *p, size_t size, nn_idx *d, size_t *header_bytes)
{
    if (size < 4) return NN_ERR_TRUNCATED;
    if (p[0] != 0 || p[1] != 0 || p[2] != 0x08) return NN_ERR_FORMAT; /* u8 data only */
    const unsigned dims = p[3];
    if (dims != 1 && dims != 3) return NN_ERR_FORMAT;
    if (size < 4 + 4 * (size_t)dims) return NN_ERR_TRUNCATED;
    const uint32_t count = be32(p + 4);
    const uint32_t rows = dims == 3 ? be32(p + 8) : 1, cols = dims == 3 ? be32(p + 12) : 1;
    if (count == 0 || rows == 0 || cols == 0) return NN_ERR_FORMAT;
    if (count > MAX_COUNT || rows > MAX_SIDE || cols > MAX_SIDE) return NN_ERR_FORMAT;
    d->count = count, d->rows = rows, d->cols = cols;
    *header_bytes = 4 + 4 * (size_t)dims;
    return NN_OK;
}

static nn_status payload_size(const nn_idx *d, size_t *bytes)
{
    size_t item;
    if (!nn_mul_size(d->rows, d->cols, &item) || !nn_mul_size(item, d->count, bytes))
        return NN_ERR_OVERFLOW;
    return NN_OK;
}

nn_status nn_idx_decode(const void *bytes, size_t size, nn_idx *out)
{
    if (!out || (!bytes && size)) return NN_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof *out);
    nn_idx d = {0};
    size_t header, payload;
    nn_status s = parse_header(bytes, size, &d, &header);
    if (s || (s = payload_size(&d, &payload))) return s;
    if (size - header < payload) return NN_ERR_TRUNCATED;
    if (size - header > payload) return NN_ERR_FORMAT; /* trailing bytes: not what the header says */
    d.data = malloc(payload);
    if (!d.data) return NN_ERR_OUT_OF_MEMORY;
    memcpy(d.data, (const uint8_t *)bytes + header, payload);
    *out = d;
    return NN_OK;
}

/* Read exactly n bytes; NN_ERR_TRUNCATED at a clean end of stream. */
static nn_status gz_exact(gzFile f, void *dst, size_t n)
{
    uint8_t *p = dst;
    while (n > 0) {
        const unsigned chunk = n > (1u << 30) ? 1u << 30 : (unsigned)n;
        const int got = gzread(f, p, chunk);
        if (got < 0) return NN_ERR_FORMAT; /* corrupt deflate stream or CRC */
        if (got == 0) {
            int errnum;
            gzerror(f, &errnum);
            return errnum == Z_OK || errnum == Z_BUF_ERROR ? NN_ERR_TRUNCATED : NN_ERR_FORMAT;
        }
        p += got, n -= (size_t)got;
    }
    return NN_OK;
}

/* Read the payload, growing the buffer as data arrives (doubling from
 * 1 MiB), so a header that claims more than the file holds cannot make us
 * allocate it: memory stays within twice what is really there. */
static nn_status gz_payload(gzFile f, size_t payload, uint8_t **out)
{
    size_t cap = payload < (1u << 20) ? payload : 1u << 20, have = 0;
    uint8_t *buf = malloc(cap ? cap : 1);
    if (!buf) return NN_ERR_OUT_OF_MEMORY;
    nn_status s = NN_OK;
    while (have < payload) {
        if (have == cap) {
            const size_t grown = cap > payload / 2 ? payload : 2 * cap;
            uint8_t *bigger = realloc(buf, grown);
            if (!bigger) {
                s = NN_ERR_OUT_OF_MEMORY;
                break;
            }
            buf = bigger, cap = grown;
        }
        if ((s = gz_exact(f, buf + have, cap - have))) break;
        have = cap;
    }
    if (s) {
        free(buf);
        return s;
    }
    *out = buf;
    return NN_OK;
}

nn_status nn_idx_read(const char *gz_path, nn_idx *out)
{
    if (!gz_path || !out) return NN_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof *out);
    gzFile f = gzopen(gz_path, "rb");
    if (!f) return NN_ERR_IO;
    nn_status s = NN_OK;
    uint8_t head[16];
    nn_idx d = {0};
    size_t header = 0, payload = 0;
    /* gzip's magic must be there: a plain file would be passed through */
    if (gzread(f, head, 4) != 4 || gzdirect(f)) s = gzdirect(f) ? NN_ERR_FORMAT : NN_ERR_TRUNCATED;
    if (!s && head[3] == 3) s = gz_exact(f, head + 4, 12);
    else if (!s) s = gz_exact(f, head + 4, 4);
    if (!s) s = parse_header(head, head[3] == 3 ? 16 : 8, &d, &header);
    if (!s) s = payload_size(&d, &payload);
    if (!s) s = gz_payload(f, payload, &d.data);
    if (!s) { /* nothing may follow the payload */
        uint8_t extra;
        const int more = gzread(f, &extra, 1);
        if (more != 0) s = NN_ERR_FORMAT;
    }
    gzclose(f);
    if (s) {
        free(d.data);
        return s;
    }
    *out = d;
    return NN_OK;
}

void nn_idx_free(nn_idx *idx)
{
    if (!idx) return;
    free(idx->data);
    memset(idx, 0, sizeof *idx);
}

nn_status nn_idx_dataset(const nn_idx *images, const nn_idx *labels, size_t classes, float **x,
                         float **y)
{
    if (!images || !labels || !x || !y || !images->data || !labels->data || classes == 0)
        return NN_ERR_INVALID_ARGUMENT;
    if (images->count != labels->count || labels->rows != 1 || labels->cols != 1)
        return NN_ERR_FORMAT;
    const size_t n = images->count;
    size_t features, xs, ys;
    if (!nn_mul_size(images->rows, images->cols, &features) || !nn_mul_size(features, n, &xs) ||
        !nn_mul_size(classes, n, &ys) || xs > SIZE_MAX / sizeof(float) || ys > SIZE_MAX / sizeof(float))
        return NN_ERR_OVERFLOW;
    for (size_t i = 0; i < n; i++)
        if (labels->data[i] >= classes) return NN_ERR_FORMAT;
    float *xv = malloc(xs * sizeof *xv), *yv = calloc(ys, sizeof *yv);
    if (!xv || !yv) {
        free(xv), free(yv);
        return NN_ERR_OUT_OF_MEMORY;
    }
    for (size_t i = 0; i < xs; i++) xv[i] = (float)images->data[i] * (1.0f / 255.0f);
    for (size_t j = 0; j < n; j++) yv[j * classes + labels->data[j]] = 1.0f;
    *x = xv, *y = yv;
    return NN_OK;
}
