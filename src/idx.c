/*
 * IDX files (the MNIST family): a big-endian header — magic 0x00000800 | type
 * << 8 | dims, with type 0x08 (unsigned byte) — then each dimension as a
 * big-endian u32, then the bytes. Images have 3 dimensions (count, rows,
 * cols), labels 1. Read plain or gzipped (zlib, trailer checked); every
 * size is checked against the data actually present.
 */
#include <stdint.h>
#include <stdio.h>
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

/* The whole file into memory (a compressed data set is tens of MB), read
 * in growing chunks so that a pipe or a file that changes size works too.
 * NN_ERR_IO with errno kept on read errors. */
static nn_status read_file(FILE *f, uint8_t **out, size_t *size)
{
    size_t cap = 1u << 16, have = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) return NN_ERR_OUT_OF_MEMORY;
    for (;;) {
        if (have == cap) {
            if (cap > SIZE_MAX / 2) {
                free(buf);
                return NN_ERR_OVERFLOW;
            }
            uint8_t *bigger = realloc(buf, 2 * cap);
            if (!bigger) {
                free(buf);
                return NN_ERR_OUT_OF_MEMORY;
            }
            buf = bigger, cap *= 2;
        }
        const size_t got = fread(buf + have, 1, cap - have, f);
        have += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        free(buf);
        return NN_ERR_IO;
    }
    *out = buf, *size = have;
    return NN_OK;
}

/* Decompress one gzip member that must hold exactly an IDX file: zlib
 * checks the gzip header, and at the end the trailer's CRC-32 and length,
 * which a damaged or cut download fails. The output buffer grows as data
 * arrives (doubling), and stops at the size the IDX header announces, so a
 * header that claims more than the file holds cannot make us allocate it.
 *   cut anywhere, trailer included     NN_ERR_TRUNCATED
 *   CRC-32 or length does not match    NN_ERR_CHECKSUM
 *   corrupt deflate data or header     NN_ERR_FORMAT
 *   bytes after the member, or more decompressed data than the header
 *   says                               NN_ERR_FORMAT */
static nn_status gunzip_idx(const uint8_t *gz, size_t size, nn_idx *d)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return NN_ERR_OUT_OF_MEMORY;
    size_t cap = 1u << 16, have = 0, header = 0, total = SIZE_MAX, payload;
    uint8_t *out = malloc(cap);
    nn_status s = out ? NN_OK : NN_ERR_OUT_OF_MEMORY;
    size_t fed = 0;
    int ret = Z_OK;
    while (!s && ret != Z_STREAM_END) {
        if (have == cap) {
            const size_t limit = total == SIZE_MAX ? SIZE_MAX / 2 : total + 1;
            const size_t grown = cap > limit / 2 ? limit : 2 * cap;
            uint8_t *bigger = grown > cap ? realloc(out, grown) : NULL;
            if (!bigger) {
                s = grown > cap ? NN_ERR_OUT_OF_MEMORY : NN_ERR_FORMAT;
                break;
            }
            out = bigger, cap = grown;
        }
        const size_t in_chunk = size - fed < (1u << 30) ? size - fed : 1u << 30;
        const size_t out_chunk = cap - have < (1u << 30) ? cap - have : 1u << 30;
        z.next_in = (Bytef *)(uintptr_t)(gz + fed), z.avail_in = (uInt)in_chunk;
        z.next_out = out + have, z.avail_out = (uInt)out_chunk;
        ret = inflate(&z, Z_NO_FLUSH);
        fed += in_chunk - z.avail_in;
        have += out_chunk - z.avail_out;
        if (ret == Z_DATA_ERROR) {
            const int check = z.msg && (strstr(z.msg, "incorrect data check") || strstr(z.msg, "incorrect length check"));
            s = check ? NN_ERR_CHECKSUM : NN_ERR_FORMAT;
        } else if (ret == Z_MEM_ERROR) {
            s = NN_ERR_OUT_OF_MEMORY;
        } else if (ret == Z_NEED_DICT || ret == Z_STREAM_ERROR) {
            s = NN_ERR_FORMAT;
        } else if (ret == Z_BUF_ERROR || (ret == Z_OK && fed == size && z.avail_out > 0)) {
            s = NN_ERR_TRUNCATED; /* input used up before the end of the member */
        }
        if (!s && total == SIZE_MAX && have >= 4) { /* the header: how much there must be */
            const size_t hb = 4 + 4 * (size_t)(out[3] == 3 ? 3 : 1);
            if (have >= hb || ret == Z_STREAM_END) {
                if (!(s = parse_header(out, have, d, &header)) && !(s = payload_size(d, &payload)))
                    s = nn_add_size(header, payload, &total) ? NN_OK : NN_ERR_OVERFLOW;
            }
        }
        if (!s && have > total) s = NN_ERR_FORMAT; /* more data than the header says */
    }
    inflateEnd(&z);
    if (!s && total == SIZE_MAX) s = parse_header(out, have, d, &header); /* a stream shorter than a header */
    if (!s && have < total) s = NN_ERR_TRUNCATED;
    if (!s && fed != size) s = NN_ERR_FORMAT; /* bytes after the gzip member */
    if (s) {
        free(out);
        return s;
    }
    d->data = out;
    memmove(out, out + header, total - header); /* the payload alone */
    return NN_OK;
}

nn_status nn_idx_read(const char *path, nn_idx *out)
{
    if (!path || !out) return NN_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return NN_ERR_IO;
    uint8_t *bytes = NULL;
    size_t size = 0;
    nn_status s = read_file(f, &bytes, &size);
    fclose(f);
    if (s) return s;
    nn_idx d = {0};
    if (size >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) s = gunzip_idx(bytes, size, &d);
    else s = nn_idx_decode(bytes, size, &d); /* plain IDX */
    free(bytes);
    if (s) return s;
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
