/* Status names and argument validation shared by every public entry point. */
#include <string.h>

#include "internal.h"

const char *nn_strerror(nn_status status)
{
    switch (status) {
    case NN_OK: return "success";
    case NN_ERR_INVALID_ARGUMENT: return "invalid argument";
    case NN_ERR_OUT_OF_MEMORY: return "out of memory";
    case NN_ERR_OVERFLOW: return "size overflows size_t";
    case NN_ERR_NON_FINITE: return "non-finite value (NaN or Inf)";
    case NN_ERR_UNSUPPORTED: return "not supported on this CPU or build";
    case NN_ERR_IO: return "I/O error";
    case NN_ERR_FORMAT: return "bad file format";
    case NN_ERR_TRUNCATED: return "file is truncated";
    case NN_ERR_CHECKSUM: return "checksum mismatch";
    case NN_ERR_VERSION: return "unsupported format version";
    case NN_ERR_TIMEOUT: return "timed out waiting for other processes";
    }
    return "unknown status";
}

#define NN_STR2(x) #x
#define NN_STR(x) NN_STR2(x)
const char *nn_version(void)
{
    return NN_STR(NN_VERSION_MAJOR) "." NN_STR(NN_VERSION_MINOR) "." NN_STR(NN_VERSION_PATCH);
}

nn_status nn_check_matrix(const void *p, size_t rows, size_t cols, size_t ld)
{
    if (rows == 0 || cols == 0) return NN_OK; /* nothing is addressed */
    if (p == NULL || ld < rows) return NN_ERR_INVALID_ARGUMENT;
    size_t span, bytes;
    /* the last element is at ld·(cols−1) + rows − 1; its byte offset must fit */
    if (!nn_mul_size(ld, cols - 1, &span) || !nn_add_size(span, rows, &span) ||
        !nn_mul_size(span, sizeof(float), &bytes))
        return NN_ERR_OVERFLOW;
    return NN_OK;
}

int nn_name_index(const char *const *names, int count, const char *name)
{
    for (int i = 0; name && i < count; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}
