/*
 * Numeric CSV: one sample per line, fields separated by commas, an optional
 * header line. Strict: every line the same number of fields, every field a
 * finite number, and the first offending line and field reported. Bounded:
 * the file's size bounds every allocation.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void where(nn_csv_error *err, size_t line, size_t field)
{
    if (err) err->line = line, err->field = field;
}

/* One line [p, end) split at commas into floats (NULL out: count only).
 * Returns the field count, or 0 with *bad_field (1-based) and *status set
 * on the first field that is not a finite number. */
static size_t parse_line(const char *p, const char *end, float *out, size_t *bad_field, nn_status *status)
{
    size_t n = 0;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        while (p < stop && (*p == ' ' || *p == '\t')) p++;
        const char *last = stop;
        while (last > p && (last[-1] == ' ' || last[-1] == '\t')) last--;
        n++;
        char buf[64];
        const size_t len = (size_t)(last - p);
        if (len == 0 || len >= sizeof buf) {
            *bad_field = n, *status = NN_ERR_FORMAT;
            return 0;
        }
        memcpy(buf, p, len);
        buf[len] = '\0';
        char *e;
        errno = 0;
        const double v = strtod(buf, &e);
        if (*e != '\0' || e == buf) {
            *bad_field = n, *status = NN_ERR_FORMAT;
            return 0;
        }
        if (!isfinite(v) || fabs(v) > 3.4028234663852886e38) {
            *bad_field = n, *status = NN_ERR_NON_FINITE;
            return 0;
        }
        if (out) out[n - 1] = (float)v;
        if (!comma) return n;
        p = comma + 1;
    }
}

/* 1 if the line reads as a header: no empty field, and one at least that
 * is not a number ("x,y,label"; "1,,2" is a bad data line, not a header). */
static int looks_like_header(const char *p, const char *end)
{
    int text = 0;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p)), *stop = comma ? comma : end;
        size_t bad = 0;
        nn_status s = NN_OK;
        const char *a = p;
        while (a < stop && (*a == ' ' || *a == '\t')) a++;
        if (a == stop) return 0;
        if (parse_line(p, stop, NULL, &bad, &s) == 0 && s == NN_ERR_FORMAT) text = 1;
        if (!comma) return text;
        p = comma + 1;
    }
}

nn_status nn_csv_decode(const void *bytes, size_t size, int header, nn_csv *out, nn_csv_error *err)
{
    if (!out || (!bytes && size) || header < -1 || header > 1) return NN_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof *out);
    where(err, 0, 0);
    const char *p = bytes, *end = p + size;
    size_t lines = 0;
    for (const char *q = p; q < end; q++) lines += *q == '\n';
    if (size && end[-1] != '\n') lines++;
    float *data = NULL;
    size_t rows = 0, cols = 0, line = 0, cap = 0;
    nn_status s = NN_OK;
    int header_done = header == 0;
    while (p < end && !s) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end, *next = nl ? nl + 1 : end;
        line++;
        if (eol > p && eol[-1] == '\r') eol--;
        int blank = 1;
        for (const char *q = p; q < eol; q++) blank &= *q == ' ' || *q == '\t';
        if (blank) { /* blank lines only at the end */
            const char *q = next;
            while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n')) q++;
            if (q != end) {
                where(err, line, 0);
                s = NN_ERR_FORMAT;
            }
            break;
        }
        if (!header_done) {
            header_done = 1;
            if (header == 1 || looks_like_header(p, eol)) {
                p = next;
                continue;
            }
        }
        size_t bad = 0;
        nn_status fs = NN_OK;
        if (!data) { /* the first data line sets the width */
            cols = parse_line(p, eol, NULL, &bad, &fs);
            if (!cols) {
                where(err, line, bad);
                s = fs;
                break;
            }
            /* every field takes at least 2 bytes (a digit and a separator) but
             * the file's last: the bytes bound the values */
            if (!nn_mul_size(lines, cols, &cap)) cap = SIZE_MAX;
            if (cap > size / 2 + 1) cap = size / 2 + 1;
            if (cap > SIZE_MAX / sizeof(float)) {
                s = NN_ERR_OVERFLOW;
                break;
            }
            if (!(data = malloc(cap * sizeof(float)))) {
                s = NN_ERR_OUT_OF_MEMORY;
                break;
            }
        }
        /* count first, so a wider line cannot write past its row */
        const size_t got = parse_line(p, eol, NULL, &bad, &fs);
        if (!got) {
            where(err, line, bad);
            s = fs;
        } else if (got != cols || (rows + 1) * cols > cap) {
            where(err, line, got < cols ? got + 1 : cols + 1);
            s = NN_ERR_FORMAT;
        } else {
            parse_line(p, eol, data + rows * cols, &bad, &fs);
            rows++;
        }
        p = next;
    }
    if (!s && rows == 0) {
        where(err, line, 0);
        s = NN_ERR_FORMAT; /* no data */
    }
    if (s) {
        free(data);
        return s;
    }
    out->rows = rows, out->cols = cols, out->data = data;
    return NN_OK;
}

nn_status nn_csv_read(const char *path, int header, nn_csv *out, nn_csv_error *err)
{
    if (!path || !out) return NN_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof *out);
    where(err, 0, 0);
    FILE *f = fopen(path, "rb");
    if (!f) return NN_ERR_IO;
    size_t cap = 1u << 16, have = 0;
    char *buf = malloc(cap);
    nn_status s = buf ? NN_OK : NN_ERR_OUT_OF_MEMORY;
    while (!s) {
        if (have == cap) {
            char *bigger = cap <= SIZE_MAX / 2 ? realloc(buf, 2 * cap) : NULL;
            if (!bigger) {
                s = cap <= SIZE_MAX / 2 ? NN_ERR_OUT_OF_MEMORY : NN_ERR_OVERFLOW;
                break;
            }
            buf = bigger, cap *= 2;
        }
        const size_t got = fread(buf + have, 1, cap - have, f);
        have += got;
        if (got == 0) {
            if (ferror(f)) s = NN_ERR_IO;
            break;
        }
    }
    const int saved = errno;
    fclose(f);
    if (!s) s = nn_csv_decode(buf, have, header, out, err);
    free(buf);
    errno = saved;
    return s;
}

void nn_csv_free(nn_csv *csv)
{
    if (!csv) return;
    free(csv->data);
    memset(csv, 0, sizeof *csv);
}

nn_status nn_csv_dataset(const nn_csv *csv, size_t target, size_t targets, size_t classes, float **x, float **y)
{
    if (!csv || !csv->data || !x || !y || targets == 0 || (classes && targets != 1)) return NN_ERR_INVALID_ARGUMENT;
    if (target >= csv->cols || targets > csv->cols - target || targets == csv->cols) return NN_ERR_INVALID_ARGUMENT;
    const size_t n = csv->rows, features = csv->cols - targets, outs = classes ? classes : targets;
    size_t xs, ys;
    if (!nn_mul_size(features, n, &xs) || !nn_mul_size(outs, n, &ys) || xs > SIZE_MAX / sizeof(float) ||
        ys > SIZE_MAX / sizeof(float))
        return NN_ERR_OVERFLOW;
    for (size_t i = 0; classes && i < n; i++) {
        const float v = csv->data[i * csv->cols + target];
        if (!(v >= 0.0f) || v != floorf(v) || v >= (float)classes) return NN_ERR_FORMAT;
    }
    float *xv = malloc(xs * sizeof *xv), *yv = calloc(ys, sizeof *yv);
    if (!xv || !yv) {
        free(xv), free(yv);
        return NN_ERR_OUT_OF_MEMORY;
    }
    for (size_t i = 0; i < n; i++) {
        const float *row = csv->data + i * csv->cols;
        float *xc = xv + i * features, *yc = yv + i * outs;
        for (size_t j = 0, f = 0; j < csv->cols; j++) {
            if (j >= target && j < target + targets) continue;
            xc[f++] = row[j];
        }
        if (classes) yc[(size_t)row[target]] = 1.0f;
        else
            for (size_t t = 0; t < targets; t++) yc[t] = row[target + t];
    }
    *x = xv, *y = yv;
    return NN_OK;
}
