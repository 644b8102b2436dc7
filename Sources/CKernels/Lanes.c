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

// ---------------------------------------------------------------------------------------------
// Training: the two backward products in the same layout, so a training batch of small planes
// (the sync model's 64 pairs) never goes through im2col/col2im either.
//
// dL/dx[n][c][y][x] = sum_o sum_{ky,kx : (y+1-ky) % sh == 0, (x+1-kx) % sw == 0}
//                         w[o][c][ky][kx] * dL/dy[n][o][(y+1-ky)/sh][(x+1-kx)/sw]
// dL/dw[o][c][ky][kx] = sum_n sum_{oy,ox} dL/dy[n][o][oy][ox] * x[n][c][oy*sh+ky-1][ox*sw+kx-1]
//
// For dL/dx the input pixels of one row that share x's remainder modulo sw share their taps, and
// their dL/dy columns are consecutive: the forward tile (8 channels x 3 pixels) runs over them with
// the weights transposed (`packed` = lsk_lanes_pack3x3 of w^T, [cin][cout][3][3]). Rows and columns
// that fall outside dL/dy land on its zero border (one pixel suffices: |(y+1-ky)/sh - y/sh| <= 1).

__attribute__((target("avx512f")))
static void input_grad_avx512(const float *dy, int cout, int ho, int wo, int sh, int sw, const float *packed,
                              int cin, float *dx, int h, int w) {
    const size_t ipw = (size_t)w + 2, iplane = (size_t)(h + 2) * ipw * LANES;
    const size_t opw = (size_t)wo + 2, oplane = (size_t)(ho + 2) * opw * LANES;
    for (int cb = 0; cb * OB < cin; cb++) {
        const int first = cb * OB, here = cin - first < OB ? cin - first : OB;
        const float *wb = packed + (size_t)cb * cout * 9 * OB;
        for (int y = 0; y < h; y++) {
            int rows = 0, rowTap[3], rowAt[3];
            for (int ky = 0; ky < 3; ky++) {
                const int d = y + 1 - ky;
                if (d % sh != 0) continue;
                rowTap[rows] = ky;
                rowAt[rows++] = d / sh + 1;          // padded row of dL/dy
            }
            for (int px = 0; px < sw && px < w; px++) {
                int cols = 0, colTap[3], colShift[3];
                for (int kx = 0; kx < 3; kx++) {
                    const int e = px + 1 - kx;
                    if (e % sw != 0) continue;
                    colTap[cols] = kx;
                    colShift[cols++] = e / sw + 1;   // padded column of dL/dy for j = 0
                }
                const int count = (w - px + sw - 1) / sw;   // pixels x = px + sw * j of this row
                for (int j0 = 0; j0 < count; j0 += 3) {
                    const int used = count - j0 < 3 ? count - j0 : 3;
                    const int j1 = j0 + (used > 1 ? 1 : 0), j2 = j0 + (used > 2 ? 2 : used - 1);
                    __m512 a0[OB], a1[OB], a2[OB];
                    for (int c = 0; c < OB; c++) a0[c] = a1[c] = a2[c] = _mm512_setzero_ps();
                    for (int o = 0; o < cout; o++) {
                        const float *plane = dy + (size_t)o * oplane;
                        const float *wo_ = wb + (size_t)o * 9 * OB;
                        for (int r = 0; r < rows; r++) {
                            const float *row = plane + (size_t)rowAt[r] * opw * LANES;
                            for (int q = 0; q < cols; q++) {
                                const float *p = row + (size_t)colShift[q] * LANES;
                                const __m512 v0 = _mm512_loadu_ps(p + (size_t)j0 * LANES);
                                const __m512 v1 = _mm512_loadu_ps(p + (size_t)j1 * LANES);
                                const __m512 v2 = _mm512_loadu_ps(p + (size_t)j2 * LANES);
                                const float *wt = wo_ + (rowTap[r] * 3 + colTap[q]) * OB;
                                for (int c = 0; c < OB; c++) {
                                    const __m512 wv = _mm512_set1_ps(wt[c]);
                                    a0[c] = _mm512_fmadd_ps(wv, v0, a0[c]);
                                    a1[c] = _mm512_fmadd_ps(wv, v1, a1[c]);
                                    a2[c] = _mm512_fmadd_ps(wv, v2, a2[c]);
                                }
                            }
                        }
                    }
                    const size_t at = ((size_t)(y + 1) * ipw + px + 1) * LANES, step = (size_t)sw * LANES;
                    for (int c = 0; c < here; c++) {
                        float *plane = dx + (size_t)(first + c) * iplane + at;
                        _mm512_storeu_ps(plane + (size_t)j0 * step, a0[c]);
                        if (used > 1) _mm512_storeu_ps(plane + (size_t)j1 * step, a1[c]);
                        if (used > 2) _mm512_storeu_ps(plane + (size_t)j2 * step, a2[c]);
                    }
                }
            }
        }
    }
}

// AVX2: four input channels by one pixel, two registers per 16-lane vector, as conv_avx2.
__attribute__((target("avx2,fma")))
static void input_grad_avx2(const float *dy, int cout, int ho, int wo, int sh, int sw, const float *packed,
                            int cin, float *dx, int h, int w) {
    const size_t ipw = (size_t)w + 2, iplane = (size_t)(h + 2) * ipw * LANES;
    const size_t opw = (size_t)wo + 2, oplane = (size_t)(ho + 2) * opw * LANES;
    for (int cb = 0; cb * OB < cin; cb++) {
        const float *wb = packed + (size_t)cb * cout * 9 * OB;
        for (int half = 0; half < 2; half++) {
            const int first = cb * OB + 4 * half;
            if (first >= cin) break;
            const int here = cin - first < 4 ? cin - first : 4;
            for (int y = 0; y < h; y++) {
                int rows = 0, rowTap[3], rowAt[3];
                for (int ky = 0; ky < 3; ky++) {
                    const int d = y + 1 - ky;
                    if (d % sh != 0) continue;
                    rowTap[rows] = ky;
                    rowAt[rows++] = d / sh + 1;
                }
                for (int x = 0; x < w; x++) {
                    const int px = x % sw, j = x / sw;
                    int cols = 0, colTap[3], colAt[3];
                    for (int kx = 0; kx < 3; kx++) {
                        const int e = px + 1 - kx;
                        if (e % sw != 0) continue;
                        colTap[cols] = kx;
                        colAt[cols++] = j + e / sw + 1;
                    }
                    __m256 lo[4], hi[4];
                    for (int c = 0; c < 4; c++) lo[c] = hi[c] = _mm256_setzero_ps();
                    for (int o = 0; o < cout; o++) {
                        const float *plane = dy + (size_t)o * oplane;
                        const float *wo_ = wb + (size_t)o * 9 * OB + 4 * half;
                        for (int r = 0; r < rows; r++) {
                            const float *row = plane + (size_t)rowAt[r] * opw * LANES;
                            for (int q = 0; q < cols; q++) {
                                const float *p = row + (size_t)colAt[q] * LANES;
                                const __m256 v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps(p + 8);
                                const float *wt = wo_ + (rowTap[r] * 3 + colTap[q]) * OB;
                                for (int c = 0; c < 4; c++) {
                                    const __m256 wv = _mm256_broadcast_ss(wt + c);
                                    lo[c] = _mm256_fmadd_ps(wv, v0, lo[c]);
                                    hi[c] = _mm256_fmadd_ps(wv, v1, hi[c]);
                                }
                            }
                        }
                    }
                    const size_t at = ((size_t)(y + 1) * ipw + x + 1) * LANES;
                    for (int c = 0; c < here; c++) {
                        float *p = dx + (size_t)(first + c) * iplane + at;
                        _mm256_storeu_ps(p, lo[c]);
                        _mm256_storeu_ps(p + 8, hi[c]);
                    }
                }
            }
        }
    }
}

int lsk_lanes_conv3x3_input_grad(const float *dy, int cout, int ho, int wo, int sh, int sw, const float *packed,
                                 int cin, float *dx, int h, int w) {
    const int level = lsk_direct_conv_level();
    if (level < 1 || sh < 1 || sw < 1 || sh > 2 || sw > 2) return 0;
    if (level >= 2) input_grad_avx512(dy, cout, ho, wo, sh, sw, packed, cin, dx, h, w);
    else input_grad_avx2(dy, cout, ho, wo, sh, sw, packed, cin, dx, h, w);
    return 1;
}

// dL/dw for `O` output channels (1...3) and one input channel: 27 accumulators, each a 16-lane
// partial sum over images that is summed across lanes only at the end. Per output pixel, O loads of
// dL/dy and nine of x serve 9 * O multiply-adds.
__attribute__((target("avx512f"), always_inline))
static inline void weight_grad_tile(const float *x, size_t xGroup, int groups, int h, int w, int sh, int sw,
                                    const float *dy, size_t dyGroup, int ho, int wo, int O, float *grad, size_t gradRow) {
    const size_t ipw = (size_t)w + 2, opw = (size_t)wo + 2;
    (void)h;
    __m512 acc[3][9];
    for (int k = 0; k < 3; k++)
        for (int t = 0; t < 9; t++) acc[k][t] = _mm512_setzero_ps();
    const size_t oplane = (size_t)(ho + 2) * opw * LANES;
    for (int g = 0; g < groups; g++) {
        const float *xg = x + g * xGroup, *dg = dy + g * dyGroup;
        for (int oy = 0; oy < ho; oy++) {
            const float *xrow = xg + (size_t)oy * sh * ipw * LANES;
            const float *drow = dg + ((size_t)(oy + 1) * opw + 1) * LANES;
            for (int ox = 0; ox < wo; ox++) {
                __m512 d[3];
                for (int k = 0; k < O; k++) d[k] = _mm512_loadu_ps(drow + k * oplane + (size_t)ox * LANES);
                const float *base = xrow + (size_t)ox * sw * LANES;
                for (int t = 0; t < 9; t++) {
                    const __m512 v = _mm512_loadu_ps(base + ((size_t)(t / 3) * ipw + t % 3) * LANES);
                    for (int k = 0; k < O; k++) acc[k][t] = _mm512_fmadd_ps(d[k], v, acc[k][t]);
                }
            }
        }
    }
    for (int k = 0; k < O; k++)
        for (int t = 0; t < 9; t++) grad[k * gradRow + t] += _mm512_reduce_add_ps(acc[k][t]);
}

__attribute__((target("avx512f")))
static void weight_grad_avx512(const float *x, size_t xGroup, int groups, int cin, int h, int w, int sh, int sw,
                               const float *dy, size_t dyGroup, int cout, int ho, int wo, int o0, int o1, float *grad) {
    const size_t iplane = (size_t)(h + 2) * (w + 2) * LANES, oplane = (size_t)(ho + 2) * (wo + 2) * LANES;
    const size_t gradRow = (size_t)cin * 9;
    (void)cout;
    for (int o = o0; o < o1; o += 3) {
        const int O = o1 - o < 3 ? o1 - o : 3;
        for (int c = 0; c < cin; c++) {
            const float *xc = x + (size_t)c * iplane, *dyo = dy + (size_t)o * oplane;
            float *gr = grad + (size_t)o * gradRow + (size_t)c * 9;
            if (O == 3) weight_grad_tile(xc, xGroup, groups, h, w, sh, sw, dyo, dyGroup, ho, wo, 3, gr, gradRow);
            else if (O == 2) weight_grad_tile(xc, xGroup, groups, h, w, sh, sw, dyo, dyGroup, ho, wo, 2, gr, gradRow);
            else weight_grad_tile(xc, xGroup, groups, h, w, sh, sw, dyo, dyGroup, ho, wo, 1, gr, gradRow);
        }
    }
}

// AVX2: one row of taps (ky) at a time for three output channels, 9 accumulators; the two halves of
// a 16-lane vector add into the same accumulator, since only the sum over lanes is wanted.
__attribute__((target("avx2,fma")))
static void weight_grad_avx2(const float *x, size_t xGroup, int groups, int cin, int h, int w, int sh, int sw,
                             const float *dy, size_t dyGroup, int cout, int ho, int wo, int o0, int o1, float *grad) {
    const size_t ipw = (size_t)w + 2, opw = (size_t)wo + 2;
    const size_t iplane = (size_t)(h + 2) * ipw * LANES, oplane = (size_t)(ho + 2) * opw * LANES;
    const size_t gradRow = (size_t)cin * 9;
    (void)cout;
    for (int o = o0; o < o1; o += 3) {
        const int O = o1 - o < 3 ? o1 - o : 3;
        for (int c = 0; c < cin; c++)
            for (int ky = 0; ky < 3; ky++) {
                __m256 acc[3][3];
                for (int k = 0; k < 3; k++) acc[k][0] = acc[k][1] = acc[k][2] = _mm256_setzero_ps();
                for (int g = 0; g < groups; g++) {
                    const float *xg = x + g * xGroup + (size_t)c * iplane, *dg = dy + g * dyGroup + (size_t)o * oplane;
                    for (int oy = 0; oy < ho; oy++) {
                        const float *xrow = xg + (size_t)(oy * sh + ky) * ipw * LANES;
                        const float *drow = dg + ((size_t)(oy + 1) * opw + 1) * LANES;
                        for (int ox = 0; ox < wo; ox++) {
                            const float *base = xrow + (size_t)ox * sw * LANES;
                            for (int half = 0; half < 16; half += 8) {
                                __m256 d[3];
                                for (int k = 0; k < O; k++) d[k] = _mm256_loadu_ps(drow + k * oplane + (size_t)ox * LANES + half);
                                for (int kx = 0; kx < 3; kx++) {
                                    const __m256 v = _mm256_loadu_ps(base + (size_t)kx * LANES + half);
                                    for (int k = 0; k < O; k++) acc[k][kx] = _mm256_fmadd_ps(d[k], v, acc[k][kx]);
                                }
                            }
                        }
                    }
                }
                for (int k = 0; k < O; k++)
                    for (int kx = 0; kx < 3; kx++) {
                        const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(acc[k][kx]), _mm256_extractf128_ps(acc[k][kx], 1));
                        const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
                        const __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
                        grad[(size_t)(o + k) * gradRow + (size_t)c * 9 + ky * 3 + kx] += _mm_cvtss_f32(s1);
                    }
            }
    }
}

int lsk_lanes_conv3x3_weight_grad(const float *x, size_t x_group, int groups, int cin, int h, int w, int sh, int sw,
                                  const float *dy, size_t dy_group, int cout, int ho, int wo, int o0, int o1, float *grad) {
    const int level = lsk_direct_conv_level();
    if (level < 1 || sh < 1 || sw < 1 || o0 < 0 || o1 > cout || o0 > o1) return 0;
    if (level >= 2) weight_grad_avx512(x, x_group, groups, cin, h, w, sh, sw, dy, dy_group, cout, ho, wo, o0, o1, grad);
    else weight_grad_avx2(x, x_group, groups, cin, h, w, sh, sw, dy, dy_group, cout, ho, wo, o0, o1, grad);
    return 1;
}
