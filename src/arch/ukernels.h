/* GEMM micro-kernels, one file each (named operation_MRxNR_isa), all with
 * the nn_gemm_ukernel_fn contract of kernels.h. */
#ifndef NN_UKERNELS_H
#define NN_UKERNELS_H

#include <stddef.h>

/* Defined in sanitizer builds (gcc's macros, clang's __has_feature), where
 * kernels inline less: fully inlined, clang's ASan took minutes per file. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define NN_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define NN_SANITIZED 1
#endif
#endif

#define NN_UKERNEL_ARGS                                                                 \
    size_t m, size_t n, size_t k, const float *a, size_t a_ks, const float *b, size_t b_ks, \
        size_t b_js, float *c, size_t ldc, float alpha, float beta

void nn_gemm_16x6_avx2(NN_UKERNEL_ARGS);
void nn_gemm_32x12_avx512(NN_UKERNEL_ARGS);
void nn_gemm_16x12_avx512(NN_UKERNEL_ARGS);
/* the same two, writing C transposed (kernels.h gemm_ukernel_t) */
void nn_gemm_32x12_t_avx512(NN_UKERNEL_ARGS);
void nn_gemm_16x12_t_avx512(NN_UKERNEL_ARGS);
/* the 32x12 tiles of a whole product in one call (kernels.h gemm_whole) */
void nn_gemm_whole_32x12_avx512(NN_UKERNEL_ARGS);
/* kernels.h gemm_ukernel_pack_b */
void nn_gemm_32x12_pack_b_avx512(NN_UKERNEL_ARGS, float *b_packed);
void nn_gemm_16x4_neon(NN_UKERNEL_ARGS);
/* The nn_gemm_small_k_fn of kernels.h: 32 rows, K <= NN_SMALL_K_MAX. */
#define NN_SMALL_K_MAX 12
void nn_gemm_small_k_avx512(NN_UKERNEL_ARGS);
/* Its plain product with op(A) by rows (kernels.h gemm_small_k_at). */
void nn_gemm_small_k_at_avx512(NN_UKERNEL_ARGS);
/* AVX2's ger (kernels.h), which the AVX-512 table uses too */
void nn_ger_avx2(size_t m, size_t n, float alpha, const float *a, const float *b, size_t incb, float beta, float *c,
                 size_t ldc);

/* The nn_pack_a_transposed_fn of kernels.h with 8 x 8 AVX transposes. */
void nn_pack_a_transposed_avx2(size_t mr, size_t m, size_t kc, const float *x, size_t ld, float *dst);
/* The nn_store_transposed_fn of kernels.h, the same way. */
void nn_store_transposed_avx2(size_t m, size_t n, const float *tile, size_t ld, float beta, float *c, size_t ldc);

#endif /* NN_UKERNELS_H */
