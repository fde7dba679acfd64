/*
 * The one place that knows which ISA runs. The table is chosen once, at first
 * use (pthread_once, so concurrent first calls are safe): NN_ISA if it names
 * an available ISA, else the best available. nn_set_isa() swaps it later.
 * This and the machine facts (topology.c) are the library's only global
 * state.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "internal.h"

#if defined(NN_HAVE_X86)
#include <cpuid.h>

static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* cpuid says what the CPU has; xgetbv says whether the OS saves the wider
 * registers on context switches. Both must agree before a kernel may run. */
static int x86_has(nn_isa isa)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int osxsave = (c & bit_OSXSAVE) != 0, avx = (c & bit_AVX) != 0, fma = (c & bit_FMA) != 0;
    if (!osxsave || !avx) return 0;
    const uint64_t xcr0 = xgetbv0();
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    if (isa == NN_ISA_AVX2) return fma && (b & bit_AVX2) && (xcr0 & 0x6) == 0x6;
    if (isa == NN_ISA_AVX512) {
        const unsigned need = bit_AVX512F | bit_AVX512DQ | bit_AVX512BW | bit_AVX512VL;
        return fma && (b & need) == need && (xcr0 & 0xe6) == 0xe6;
    }
    return 0;
}
#endif

const nn_kernels *nn_kernels_for(nn_isa isa)
{
    switch (isa) {
    case NN_ISA_SCALAR: return &nn_kernels_scalar;
#if defined(NN_HAVE_X86)
    case NN_ISA_AVX2: return x86_has(NN_ISA_AVX2) ? &nn_kernels_avx2 : NULL;
    case NN_ISA_AVX512: return x86_has(NN_ISA_AVX512) ? &nn_kernels_avx512 : NULL;
#endif
#if defined(NN_HAVE_NEON)
    case NN_ISA_NEON: return &nn_kernels_neon; /* Advanced SIMD is baseline on AArch64 */
#endif
    default: return NULL;
    }
}

static _Atomic(const nn_kernels *) active;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_once(void)
{
    const nn_kernels *k = NULL;
    const char *env = getenv("NN_ISA");
    nn_isa forced;
    if (env && nn_isa_from_name(env, &forced) == NN_OK) k = nn_kernels_for(forced);
    for (int i = NN_ISA_COUNT - 1; !k && i >= 0; i--) k = nn_kernels_for((nn_isa)i);
    atomic_store(&active, k);
}

const nn_kernels *nn_kernels_active(void)
{
    pthread_once(&once, init_once);
    return atomic_load_explicit(&active, memory_order_acquire);
}

nn_isa nn_get_isa(void) { return nn_kernels_active()->isa; }

nn_status nn_set_isa(nn_isa isa)
{
    if ((int)isa < 0 || isa >= NN_ISA_COUNT) return NN_ERR_INVALID_ARGUMENT;
    pthread_once(&once, init_once);
    const nn_kernels *k = nn_kernels_for(isa);
    if (!k) return NN_ERR_UNSUPPORTED;
    atomic_store_explicit(&active, k, memory_order_release);
    return NN_OK;
}

int nn_isa_available(nn_isa isa)
{
    return (int)isa >= 0 && isa < NN_ISA_COUNT && nn_kernels_for(isa) != NULL;
}

static const char *const isa_names[NN_ISA_COUNT] = {"scalar", "avx2", "avx512", "neon"};

const char *nn_isa_name(nn_isa isa)
{
    return (int)isa >= 0 && isa < NN_ISA_COUNT ? isa_names[isa] : "unknown";
}

nn_status nn_isa_from_name(const char *name, nn_isa *isa)
{
    const int i = nn_name_index(isa_names, NN_ISA_COUNT, name);
    if (i < 0 || !isa) return NN_ERR_INVALID_ARGUMENT;
    *isa = (nn_isa)i;
    return NN_OK;
}

