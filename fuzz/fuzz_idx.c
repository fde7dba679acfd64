/* libFuzzer target: the IDX reader, from memory (the header and size checks)
 * and from a gzipped file (the same after zlib), must return a status for
 * any bytes, never crash or leak. */
#include <stdint.h>
#include <stdio.h>
#include <zlib.h>

#include "nn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nn_idx d;
    if (nn_idx_decode(data, size, &d) == NN_OK) nn_idx_free(&d);
    /* the same bytes gzipped: exercises the streaming reader */
    gzFile f = gzopen("fuzz_idx_input.gz", "wb1");
    if (!f) return 0;
    if (size) gzwrite(f, data, (unsigned)size);
    gzclose(f);
    if (nn_idx_read("fuzz_idx_input.gz", &d) == NN_OK) nn_idx_free(&d);
    /* and raw, as a (usually invalid) gzip stream */
    FILE *raw = fopen("fuzz_idx_raw.gz", "wb");
    if (!raw) return 0;
    fwrite(data, 1, size, raw);
    fclose(raw);
    if (nn_idx_read("fuzz_idx_raw.gz", &d) == NN_OK) nn_idx_free(&d);
    return 0;
}
