// 3x3 convolutions, padding 1, any stride, on small planes at inference batches: sixteen images
// side by side in the vector lanes.
//
// y[n][o][oy][ox] = max(0?, b[o] + r[n][o][oy][ox] + sum_c sum_{ky,kx} w[o][c][ky][kx] * x[n][c][oy*sh + ky - 1][ox*sw + kx - 1])
//
// The sync model's towers run planes of 40x16 down to 2x4 pixels at batches of 32 and 64 windows.
// There a vector along a row (the direct kernel's strips) is mostly masked off, and im2col + GEMM
// pays for the columns and OpenBLAS's packing of them. With the image index in the lanes every
// lane is used whatever the plane, stride 2 needs no shuffles, and a block's bias, residual and
// ReLU are applied before the store. The layout is lanes[c][y][x][16] with a one-pixel zero border
// (y, x in padded coordinates), so the inner loop has no bounds checks.
//
// Training batches in this layout (the forward, dL/dx as the same tile over dL/dy with the weights
// transposed, dL/dw with 27 lane-wide accumulators) were built and ran slower than im2col + GEMM on
// Zen 3 (a sync-model train step 0.335 s against 0.260 s): docs/engine.md, commit 93c4034.

#include "CKernels.h"

#include <immintrin.h>
#include <string.h>

#define LANES 16
#define OB 8

size_t lsk_lanes_floats(int channels, int height, int width) {
    return (size_t)channels * (size_t)(height + 2) * (size_t)(width + 2) * LANES;
}

size_t lsk_lanes_packed_floats(int cout, int cin) {
    return (size_t)((cout + OB - 1) / OB) * (size_t)cin * 9 * OB;
}

void lsk_lanes_pack3x3(const float *w, int cout, int cin, float *packed) {
    memset(packed, 0, lsk_lanes_packed_floats(cout, cin) * sizeof(float));
    for (int o = 0; o < cout; o++)
        for (int c = 0; c < cin; c++)
            for (int t = 0; t < 9; t++)
                packed[(((size_t)(o / OB) * cin + c) * 9 + t) * OB + o % OB] = w[((size_t)o * cin + c) * 9 + t];
}

__attribute__((target("avx512f")))
static void from_nchw_avx512(const float *x, int count, int channels, int height, int width, float *lanes) {
    const size_t image = (size_t)channels * height * width, pw = (size_t)width + 2;
    const __m512i index = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                             _mm512_set1_epi32((int)image));
    const __mmask16 present = (__mmask16)(count >= 16 ? 0xFFFF : (1u << count) - 1);
    for (int c = 0; c < channels; c++)
        for (int y = 0; y < height; y++) {
            const float *src = x + ((size_t)c * height + y) * width;
            float *dst = lanes + (((size_t)c * (height + 2) + y + 1) * pw + 1) * LANES;
            for (int xx = 0; xx < width; xx++)
                _mm512_storeu_ps(dst + (size_t)xx * LANES,
                                 _mm512_mask_i32gather_ps(_mm512_setzero_ps(), present, index, src + xx, 4));
        }
}

static void from_nchw_scalar(const float *x, int count, int channels, int height, int width, float *lanes) {
    const size_t image = (size_t)channels * height * width, pw = (size_t)width + 2;
    for (int c = 0; c < channels; c++)
        for (int y = 0; y < height; y++) {
            const float *src = x + ((size_t)c * height + y) * width;
            float *dst = lanes + (((size_t)c * (height + 2) + y + 1) * pw + 1) * LANES;
            for (int xx = 0; xx < width; xx++)
                for (int n = 0; n < count; n++) dst[(size_t)xx * LANES + n] = src[n * image + xx];
        }
}

int lsk_lanes_from_nchw(const float *x, int count, int channels, int height, int width, float *lanes) {
    const int level = lsk_direct_conv_level();
    if (level < 1 || count < 1 || count > LANES || (size_t)channels * height * width * (LANES - 1) > 0x7fffffffu) return 0;
    memset(lanes, 0, lsk_lanes_floats(channels, height, width) * sizeof(float));
    if (level >= 2) from_nchw_avx512(x, count, channels, height, width, lanes);
    else from_nchw_scalar(x, count, channels, height, width, lanes);
    return 1;
}

void lsk_lanes_to_nchw(const float *lanes, int count, int channels, int height, int width, float *y) {
    const size_t pw = (size_t)width + 2, image = (size_t)channels * height * width;
    for (int c = 0; c < channels; c++)
        for (int yy = 0; yy < height; yy++)
            for (int xx = 0; xx < width; xx++) {
                const float *src = lanes + (((size_t)c * (height + 2) + yy + 1) * pw + xx + 1) * LANES;
                float *dst = y + ((size_t)c * height + yy) * width + xx;
                for (int n = 0; n < count; n++) dst[n * image] = src[n];
            }
}

// Eight output channels by three output pixels in 24 of the 32 registers: per input channel and
// tap, three loads and eight broadcast weights serve 24 multiply-adds (the direct kernel's tile).
// Pixels are numbered row by row and a group of three may span rows; a short last group repeats
// its last pixel and stores it once.
__attribute__((target("avx512f")))
static void conv_avx512(const float *in, int cin, int h, int w, int sh, int sw, const float *packed, const float *bias,
                        int cout, const float *residual, int relu, float *out, int ho, int wo) {
    const size_t ipw = (size_t)w + 2, iplane = (size_t)(h + 2) * ipw * LANES;
    const size_t opw = (size_t)wo + 2, oplane = (size_t)(ho + 2) * opw * LANES;
    const int pixels = ho * wo;
    const __m512 zero = _mm512_setzero_ps();
    for (int ob = 0; ob * OB < cout; ob++) {
        const int first = ob * OB, here = cout - first < OB ? cout - first : OB;
        const float *wb = packed + (size_t)ob * cin * 9 * OB;
        for (int p0 = 0; p0 < pixels; p0 += 3) {
            const int used = pixels - p0 < 3 ? pixels - p0 : 3;
            const float *base[3];
            size_t at[3];
            for (int k = 0; k < 3; k++) {
                const int p = p0 + (k < used ? k : used - 1), oy = p / wo, ox = p % wo;
                base[k] = in + ((size_t)oy * sh * ipw + (size_t)ox * sw) * LANES;
                at[k] = ((size_t)(oy + 1) * opw + ox + 1) * LANES;
            }
            __m512 a0[OB], a1[OB], a2[OB];
            for (int o = 0; o < OB; o++) a0[o] = a1[o] = a2[o] = _mm512_set1_ps(bias && o < here ? bias[first + o] : 0.0f);
            for (int c = 0; c < cin; c++) {
                const size_t cp = (size_t)c * iplane;
                const float *wc = wb + (size_t)c * 9 * OB;
                for (int t = 0; t < 9; t++) {
                    const size_t off = cp + ((size_t)(t / 3) * ipw + (t % 3)) * LANES;
                    const __m512 v0 = _mm512_loadu_ps(base[0] + off), v1 = _mm512_loadu_ps(base[1] + off), v2 = _mm512_loadu_ps(base[2] + off);
                    const float *wt = wc + t * OB;
                    for (int o = 0; o < OB; o++) {
                        const __m512 wv = _mm512_set1_ps(wt[o]);
                        a0[o] = _mm512_fmadd_ps(wv, v0, a0[o]);
                        a1[o] = _mm512_fmadd_ps(wv, v1, a1[o]);
                        a2[o] = _mm512_fmadd_ps(wv, v2, a2[o]);
                    }
                }
            }
            for (int o = 0; o < here; o++) {
                const size_t plane = (size_t)(first + o) * oplane;
                __m512 r0 = a0[o], r1 = a1[o], r2 = a2[o];
                if (residual) {
                    r0 = _mm512_add_ps(r0, _mm512_loadu_ps(residual + plane + at[0]));
                    r1 = _mm512_add_ps(r1, _mm512_loadu_ps(residual + plane + at[1]));
                    r2 = _mm512_add_ps(r2, _mm512_loadu_ps(residual + plane + at[2]));
                }
                if (relu) { r0 = _mm512_max_ps(r0, zero); r1 = _mm512_max_ps(r1, zero); r2 = _mm512_max_ps(r2, zero); }
                _mm512_storeu_ps(out + plane + at[0], r0);
                if (used > 1) _mm512_storeu_ps(out + plane + at[1], r1);
                if (used > 2) _mm512_storeu_ps(out + plane + at[2], r2);
            }
        }
    }
}

// AVX2 (16 registers of 8 floats): a 16-lane vector is two registers, and the tile is four output
// channels by one pixel, 8 accumulators; per input channel and tap two loads and four broadcast
// weights serve 8 multiply-adds. The same layout and packing as the AVX-512 kernel (an 8-channel
// block is run as two halves of four). Two channels by three pixels (12 accumulators) was tried and
// ran 25 % slower on Zen 3.
__attribute__((target("avx2,fma")))
static void conv_avx2(const float *in, int cin, int h, int w, int sh, int sw, const float *packed, const float *bias,
                      int cout, const float *residual, int relu, float *out, int ho, int wo) {
    const size_t ipw = (size_t)w + 2, iplane = (size_t)(h + 2) * ipw * LANES;
    const size_t opw = (size_t)wo + 2, oplane = (size_t)(ho + 2) * opw * LANES;
    const __m256 zero = _mm256_setzero_ps();
    for (int ob = 0; ob * OB < cout; ob++) {
        const float *wb = packed + (size_t)ob * cin * 9 * OB;
        for (int half = 0; half < 2; half++) {
            const int first = ob * OB + 4 * half;
            if (first >= cout) break;
            const int here = cout - first < 4 ? cout - first : 4;
            for (int oy = 0; oy < ho; oy++)
                for (int ox = 0; ox < wo; ox++) {
                    const float *base = in + ((size_t)oy * sh * ipw + (size_t)ox * sw) * LANES;
                    __m256 lo[4], hi[4];
                    for (int o = 0; o < 4; o++) lo[o] = hi[o] = _mm256_set1_ps(bias && o < here ? bias[first + o] : 0.0f);
                    for (int c = 0; c < cin; c++) {
                        const float *wc = wb + (size_t)c * 9 * OB + 4 * half;
                        const float *pc = base + (size_t)c * iplane;
                        for (int t = 0; t < 9; t++) {
                            const float *p = pc + ((size_t)(t / 3) * ipw + (t % 3)) * LANES;
                            const __m256 v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps(p + 8);
                            const float *wt = wc + t * OB;
                            for (int o = 0; o < 4; o++) {
                                const __m256 wv = _mm256_broadcast_ss(wt + o);
                                lo[o] = _mm256_fmadd_ps(wv, v0, lo[o]);
                                hi[o] = _mm256_fmadd_ps(wv, v1, hi[o]);
                            }
                        }
                    }
                    const size_t at = ((size_t)(oy + 1) * opw + ox + 1) * LANES;
                    for (int o = 0; o < here; o++) {
                        const size_t q = (size_t)(first + o) * oplane + at;
                        __m256 r0 = lo[o], r1 = hi[o];
                        if (residual) {
                            r0 = _mm256_add_ps(r0, _mm256_loadu_ps(residual + q));
                            r1 = _mm256_add_ps(r1, _mm256_loadu_ps(residual + q + 8));
                        }
                        if (relu) { r0 = _mm256_max_ps(r0, zero); r1 = _mm256_max_ps(r1, zero); }
                        _mm256_storeu_ps(out + q, r0);
                        _mm256_storeu_ps(out + q + 8, r1);
                    }
                }
        }
    }
}

int lsk_lanes_conv3x3(const float *in, int cin, int h, int w, int sh, int sw, const float *packed, const float *bias,
                      int cout, const float *residual, int relu, float *out, int ho, int wo) {
    const int level = lsk_direct_conv_level();
    if (level < 1 || sh < 1 || sw < 1) return 0;
    if (level >= 2) conv_avx512(in, cin, h, w, sh, sw, packed, bias, cout, residual, relu, out, ho, wo);
    else conv_avx2(in, cin, h, w, sh, sw, packed, bias, cout, residual, relu, out, ho, wo);
    return 1;
}
