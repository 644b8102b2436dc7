// Depthwise 3x3 convolution of one plane (FaceMesh's and BlazeFace's blocks), stride 1 or 2,
// padding 0 or 1 on every side:
//
// y[oy][ox] = b + sum_{ky,kx} w[ky][kx] * x[oy * s + ky - p][ox * s + kx - p]
//
// The plane is copied with its zero border first, so every output strip reads its taps without
// bounds checks; the nine weights stay in registers. Stride 2 reads two 16-float vectors per row
// and tap pair and picks the even and odd lanes with one permute each. At batch 1 these networks
// spend a third of their time here, and the Swift version (SIMD8, compiled for baseline x86-64,
// so two SSE halves; stride 2 scalar) used a quarter of an AVX-512 core's width.

#include "CKernels.h"

#include <immintrin.h>
#include <string.h>

// Slack after the padded plane: a stride-2 strip at the end of the last row reads up to 33 floats
// past the row.
#define DW_SLACK 64

size_t lsk_depthwise_scratch_floats(int height, int width) {
    return (size_t)(height + 2) * (size_t)(width + 2) + DW_SLACK;
}

static void pad_plane(const float *x, int height, int width, int pad, float *out) {
    const int pw = width + 2 * pad, ph = height + 2 * pad;
    if (pad) {
        memset(out, 0, (size_t)pw * sizeof(float));
        memset(out + (size_t)(ph - 1) * pw, 0, (size_t)pw * sizeof(float));
    }
    for (int y = 0; y < height; y++) {
        float *row = out + (size_t)(y + pad) * pw;
        if (pad) { row[0] = 0; row[width + 1] = 0; }
        memcpy(row + pad, x + (size_t)y * width, (size_t)width * sizeof(float));
    }
    memset(out + (size_t)ph * pw, 0, DW_SLACK * sizeof(float));
}

__attribute__((target("avx512f")))
static void plane_avx512(const float *p, int pw, int stride, const float *w, float bias, float *y, int ho, int wo) {
    __m512 k[9];
    for (int t = 0; t < 9; t++) k[t] = _mm512_set1_ps(w[t]);
    const __m512 b = _mm512_set1_ps(bias);
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    for (int oy = 0; oy < ho; oy++) {
        const float *r0 = p + (size_t)oy * stride * pw, *r1 = r0 + pw, *r2 = r1 + pw;
        float *out = y + (size_t)oy * wo;
        for (int ox = 0; ox < wo; ox += 16) {
            const int left = wo - ox;
            const __mmask16 mask = (__mmask16)(left >= 16 ? 0xFFFF : (1u << left) - 1);
            __m512 acc = b;
            if (stride == 1) {
                acc = _mm512_fmadd_ps(k[0], _mm512_loadu_ps(r0 + ox), acc);
                acc = _mm512_fmadd_ps(k[1], _mm512_loadu_ps(r0 + ox + 1), acc);
                acc = _mm512_fmadd_ps(k[2], _mm512_loadu_ps(r0 + ox + 2), acc);
                acc = _mm512_fmadd_ps(k[3], _mm512_loadu_ps(r1 + ox), acc);
                acc = _mm512_fmadd_ps(k[4], _mm512_loadu_ps(r1 + ox + 1), acc);
                acc = _mm512_fmadd_ps(k[5], _mm512_loadu_ps(r1 + ox + 2), acc);
                acc = _mm512_fmadd_ps(k[6], _mm512_loadu_ps(r2 + ox), acc);
                acc = _mm512_fmadd_ps(k[7], _mm512_loadu_ps(r2 + ox + 1), acc);
                acc = _mm512_fmadd_ps(k[8], _mm512_loadu_ps(r2 + ox + 2), acc);
            } else {
                const float *rows[3] = {r0, r1, r2};
                for (int ky = 0; ky < 3; ky++) {
                    const float *r = rows[ky] + 2 * (size_t)ox;
                    const __m512 lo = _mm512_loadu_ps(r), hi = _mm512_loadu_ps(r + 16);
                    const __m512 lo2 = _mm512_loadu_ps(r + 2), hi2 = _mm512_loadu_ps(r + 18);
                    acc = _mm512_fmadd_ps(k[3 * ky], _mm512_permutex2var_ps(lo, even, hi), acc);
                    acc = _mm512_fmadd_ps(k[3 * ky + 1], _mm512_permutex2var_ps(lo, odd, hi), acc);
                    acc = _mm512_fmadd_ps(k[3 * ky + 2], _mm512_permutex2var_ps(lo2, even, hi2), acc);
                }
            }
            _mm512_mask_storeu_ps(out + ox, mask, acc);
        }
    }
}

int lsk_depthwise3x3(const float *x, int height, int width, int stride, int pad, const float *w, float bias,
                     float *y, int ho, int wo, float *scratch) {
    if (lsk_direct_conv_level() < 2 || (stride != 1 && stride != 2) || (pad != 0 && pad != 1)) return 0;
    pad_plane(x, height, width, pad, scratch);
    plane_avx512(scratch, width + 2 * pad, stride, w, bias, y, ho, wo);
    return 1;
}
