// Direct 3x3, stride 1, padding 1 convolution without materialised columns.
//
// y[o][oy][ox] = b[o] + sum_c sum_{ky,kx} w[o][c][ky][kx] * x[c][oy + ky - 1][ox + kx - 1]
//
// The image is first copied with a zero border, so the inner loop has no bounds checks. Partial
// sums of a tile of output pixels by output channels stay in registers (block_avx512 and block_avx2
// say which tile): per input channel and tap each strip of pixels is loaded once and each weight is
// broadcast from memory into fused multiply-adds. The im2col path writes 9x the input as columns and
// reads them back through OpenBLAS's packing; here the input is read from cache.
// Backward-data of the same convolution is this kernel on dL/dy with the weights flipped and their
// channels swapped (lsk_pack3x3's backward_data). The weight gradient has its own kernel at the end
// (AVX-512 only; Conv2d uses it on layers with few output channels):
//
// dW[o][c][ky][kx] = sum_n sum_{oy,ox} dL/dy[n][o][oy][ox] * x[n][c][oy + ky - 1][ox + kx - 1]

#include "CKernels.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

// LIPSYNC_DIRECT_CONV caps the level: 0 turns the kernels off, 1 keeps an AVX-512 CPU on the AVX2
// kernel (so that both are tested on one machine).
static int detect(void) {
    __builtin_cpu_init();
    int level = 0;
    if (__builtin_cpu_supports("avx512f")) level = 2;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) level = 1;
    const char *env = getenv("LIPSYNC_DIRECT_CONV");
    if (env && (env[0] == '0' || env[0] == '1') && env[0] - '0' < level) level = env[0] - '0';
    return level;
}

int lsk_direct_conv_level(void) {
    static int level = -1;
    if (level < 0) level = detect();
    return level;
}

// A padded plane is (height + 2) rows of (width + 2) floats; 32 floats of slack after the last
// plane let a full-width vector load at the last strip run past the row without leaving the buffer.
static size_t padded_width(int width) { return (size_t)width + 2; }
static size_t padded_plane(int height, int width) { return (size_t)(height + 2) * padded_width(width); }

size_t lsk_padded_floats(int channels, int height, int width) {
    return (size_t)channels * padded_plane(height, width) + 32;
}

void lsk_pad(const float *x, int channels, int height, int width, float *padded) {
    const size_t pw = padded_width(width), plane = padded_plane(height, width);
    for (int c = 0; c < channels; c++) {
        float *dst = padded + c * plane;
        memset(dst, 0, pw * sizeof(float));
        for (int y = 0; y < height; y++) {
            float *row = dst + (size_t)(y + 1) * pw;
            row[0] = 0;
            memcpy(row + 1, x + ((size_t)c * height + y) * width, (size_t)width * sizeof(float));
            row[width + 1] = 0;
        }
        memset(dst + (size_t)(height + 1) * pw, 0, pw * sizeof(float));
    }
    memset(padded + channels * plane, 0, 32 * sizeof(float));
}

size_t lsk_packed_floats(int out, int in) {
    return (size_t)((out + LSK_BLOCK - 1) / LSK_BLOCK) * in * 9 * LSK_BLOCK;
}

void lsk_pack3x3(const float *w, int cout, int cin, int backward_data, float *packed) {
    const int out = backward_data ? cin : cout, in = backward_data ? cout : cin;
    const int blocks = (out + LSK_BLOCK - 1) / LSK_BLOCK;
    memset(packed, 0, lsk_packed_floats(out, in) * sizeof(float));
    for (int b = 0; b < blocks; b++) {
        for (int j = 0; j < LSK_BLOCK; j++) {
            const int o = b * LSK_BLOCK + j;
            if (o >= out) break;
            for (int c = 0; c < in; c++) {
                for (int t = 0; t < 9; t++) {
                    // Backward-data reads w[c][o] at the mirrored tap: w[c][o][2 - ky][2 - kx].
                    const float v = backward_data ? w[((size_t)c * cin + o) * 9 + (8 - t)] : w[((size_t)o * cin + c) * 9 + t];
                    packed[(((size_t)b * in + c) * 9 + t) * LSK_BLOCK + j] = v;
                }
            }
        }
    }
}

// AVX-512: three 16-pixel strips by 8 output channels in 24 of the 32 registers, so each
// broadcast weight serves three multiply-adds and each loaded strip eight (a 1 x 16 tile made 17
// loads per 16 multiply-adds and measured slower on the wide layers). Strips are numbered row by
// row, and a group of three may span rows; a short last group repeats its last strip and stores it
// once. The input is described by where output row oy starts (oy * row_step), the nine taps'
// offsets from there and the distance between channel planes: stride 1 reads lsk_pad's planes,
// stride 2 lsk_pad_split2's, whose even and odd columns lie apart so that a strip of 16 outputs
// loads 16 consecutive floats at every tap.
__attribute__((target("avx512f")))
static void block_avx512(const float *in, int channels, size_t plane, size_t row_step, const size_t taps[9],
                         int height, int width, const float *block, const float *bias, int count, float *y) {
    const size_t out_plane = (size_t)height * width;
    const int per_row = (width + 15) / 16, strips = height * per_row;
    for (int half = 0; half * 8 < count; half++) {
        const int first = half * 8, here = count - first < 8 ? count - first : 8;
        for (int s0 = 0; s0 < strips; s0 += 3) {
            const int used = strips - s0 < 3 ? strips - s0 : 3;
            const float *base[3];
            size_t out_offset[3];
            __mmask16 mask[3];
            for (int k = 0; k < 3; k++) {
                const int s = s0 + (k < used ? k : used - 1), oy = s / per_row, ox = (s % per_row) * 16;
                const int n = width - ox < 16 ? width - ox : 16;
                base[k] = in + (size_t)oy * row_step + ox;
                out_offset[k] = (size_t)oy * width + ox;
                mask[k] = (__mmask16)(n == 16 ? 0xFFFF : (1u << n) - 1);
            }
            __m512 a0[8], a1[8], a2[8];
            for (int o = 0; o < 8; o++) a0[o] = a1[o] = a2[o] = _mm512_set1_ps(bias && o < here ? bias[first + o] : 0.0f);
            for (int c = 0; c < channels; c++) {
                const size_t cp = (size_t)c * plane;
                const float *wc = block + (size_t)c * 9 * LSK_BLOCK + first;
                for (int t = 0; t < 9; t++) {
                    const size_t off = cp + taps[t];
                    const __m512 v0 = _mm512_loadu_ps(base[0] + off), v1 = _mm512_loadu_ps(base[1] + off), v2 = _mm512_loadu_ps(base[2] + off);
                    const float *wt = wc + t * LSK_BLOCK;
                    for (int o = 0; o < 8; o++) {
                        const __m512 w = _mm512_set1_ps(wt[o]);
                        a0[o] = _mm512_fmadd_ps(w, v0, a0[o]);
                        a1[o] = _mm512_fmadd_ps(w, v1, a1[o]);
                        a2[o] = _mm512_fmadd_ps(w, v2, a2[o]);
                    }
                }
            }
            for (int o = 0; o < here; o++) {
                float *dst = y + (size_t)(first + o) * out_plane;
                _mm512_mask_storeu_ps(dst + out_offset[0], mask[0], a0[o]);
                if (used > 1) _mm512_mask_storeu_ps(dst + out_offset[1], mask[1], a1[o]);
                if (used > 2) _mm512_mask_storeu_ps(dst + out_offset[2], mask[2], a2[o]);
            }
        }
    }
}

// AVX2 has 16 vector registers: the 16-channel block is done as two halves of 8 accumulators.
__attribute__((target("avx2,fma")))
static void block_avx2(const float *padded, int channels, int height, int width, const float *block,
                       const float *bias, int count, float *y) {
    const size_t pw = padded_width(width), plane = padded_plane(height, width), out_plane = (size_t)height * width;
    for (int half = 0; half * 8 < count; half++) {
        const int first = half * 8, here = count - first < 8 ? count - first : 8;
        for (int oy = 0; oy < height; oy++) {
            for (int ox = 0; ox < width; ox += 8) {
                const int n = width - ox < 8 ? width - ox : 8;
                __m256 acc[8];
                for (int o = 0; o < 8; o++) acc[o] = _mm256_set1_ps(bias && o < here ? bias[first + o] : 0.0f);
                const float *base = padded + (size_t)oy * pw + ox;
                for (int c = 0; c < channels; c++) {
                    const float *src = base + c * plane, *wc = block + (size_t)c * 9 * LSK_BLOCK + first;
                    for (int t = 0; t < 9; t++) {
                        const __m256 v = _mm256_loadu_ps(src + (t / 3) * pw + (t % 3));
                        const float *wt = wc + t * LSK_BLOCK;
                        for (int o = 0; o < 8; o++) acc[o] = _mm256_fmadd_ps(_mm256_set1_ps(wt[o]), v, acc[o]);
                    }
                }
                for (int o = 0; o < here; o++) {
                    float *dst = y + (first + o) * out_plane + (size_t)oy * width + ox;
                    if (n == 8) {
                        _mm256_storeu_ps(dst, acc[o]);
                    } else {
                        float tmp[8];
                        _mm256_storeu_ps(tmp, acc[o]);
                        memcpy(dst, tmp, (size_t)n * sizeof(float));
                    }
                }
            }
        }
    }
}

void lsk_conv3x3_block(const float *padded, int channels, int height, int width, const float *block,
                       const float *bias, int count, float *y) {
    if (lsk_direct_conv_level() >= 2) {
        const size_t pw = padded_width(width);
        size_t taps[9];
        for (int t = 0; t < 9; t++) taps[t] = (size_t)(t / 3) * pw + (t % 3);
        block_avx512(padded, channels, padded_plane(height, width), pw, taps, height, width, block, bias, count, y);
    } else {
        block_avx2(padded, channels, height, width, block, bias, count, y);
    }
}

// Stride 2. Padded row r (zero border included, (width + 2) floats P[0...]) is stored as its even
// columns E[j] = P[2j] then its odd ones O[j] = P[2j + 1], each `half` = (width + 3) / 2 floats
// (the last odd slot of an even-width row is a zero). Output (oy, ox) reads padded rows 2oy + ky
// and columns 2ox + kx: E[ox], O[ox], E[ox + 1] for kx = 0, 1, 2.
static size_t split_half(int width) { return (size_t)(width + 3) / 2; }
static size_t split_plane(int height, int width) { return (size_t)(height + 2) * 2 * split_half(width); }

size_t lsk_split2_floats(int channels, int height, int width) {
    return (size_t)channels * split_plane(height, width) + 32;
}

void lsk_pad_split2(const float *x, int channels, int height, int width, float *split) {
    const size_t half = split_half(width), plane = split_plane(height, width);
    for (int c = 0; c < channels; c++) {
        float *dst = split + c * plane;
        memset(dst, 0, 2 * half * sizeof(float));
        for (int r = 1; r <= height; r++) {
            float *even = dst + (size_t)r * 2 * half, *odd = even + half;
            const float *src = x + ((size_t)c * height + r - 1) * width;
            // P[i] = src[i - 1] for 1 <= i <= width: odd slots take src[0], src[2], ...; even
            // slots 1... take src[1], src[3], ...
            even[0] = 0;
            for (int j = 0; 2 * j < width; j++) odd[j] = src[2 * j];
            for (int j = 1; 2 * j - 1 < width; j++) even[j] = src[2 * j - 1];
            for (size_t j = (size_t)(width + 1) / 2; j < half; j++) odd[j] = 0;
            for (size_t j = (size_t)width / 2 + 1; j < half; j++) even[j] = 0;
        }
        memset(dst + (size_t)(height + 1) * 2 * half, 0, 2 * half * sizeof(float));
    }
    memset(split + channels * plane, 0, 32 * sizeof(float));
}

int lsk_conv3x3s2_block(const float *split, int channels, int height, int width, const float *block,
                        const float *bias, int count, float *y) {
    if (lsk_direct_conv_level() < 2) return 0;
    const size_t half = split_half(width), row = 2 * half;
    const size_t taps[9] = {0, half, 1, row, row + half, row + 1, 2 * row, 2 * row + half, 2 * row + 1};
    block_avx512(split, channels, split_plane(height, width), 2 * row, taps, (height + 1) / 2, (width + 1) / 2,
                 block, bias, count, y);
    return 1;
}

// Weight gradient. Per input channel and a few output channels, the nine taps' partial sums stay
// in registers as vectors over a strip of output pixels: each strip of dL/dy is loaded once and
// serves nine taps, each shifted strip of the padded input serves every output channel of the
// tile. The vectors are summed across lanes once per tile and group of images, not per pixel. The
// last strip of a row is masked on dL/dy, so the input lanes past the row (finite: the next row,
// the next plane or the buffer's zero slack) are multiplied by zero.
//
// AVX-512: two output channels, 18 accumulators + 2 dL/dy strips + 1 input strip in 21 of the 32
// registers; 11 loads per 18 multiply-adds. The taps are written out (TAP) so that the partial sums
// are named registers: with them in arrays indexed by loops the compiler kept them on the stack
// (a first version with three channels, 27 accumulators, measured slower than the GEMM path).
#define TAP(t, x0, x1)                                                                        \
    do {                                                                                      \
        const __m512 v = _mm512_loadu_ps(xr + (size_t)((t) / 3) * pw + ((t) % 3) + ox);        \
        x0 = _mm512_fmadd_ps(d0, v, x0);                                                      \
        x1 = _mm512_fmadd_ps(d1, v, x1);                                                      \
    } while (0)

__attribute__((target("avx512f")))
static void dweight_pair_avx512(const float *padded, int images, size_t image_stride, int height, int width,
                                const float *dy, size_t dy_image_stride, int two, float *dw, size_t dw_out_stride) {
    const size_t pw = padded_width(width), hw = (size_t)height * width;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0;
    __m512 b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0, b6 = a0, b7 = a0, b8 = a0;
    for (int n = 0; n < images; n++) {
        const float *xn = padded + n * image_stride, *dn = dy + n * dy_image_stride;
        for (int oy = 0; oy < height; oy++) {
            const float *xr = xn + (size_t)oy * pw, *dr = dn + (size_t)oy * width;
            for (int ox = 0; ox < width; ox += 16) {
                const int left = width - ox;
                const __mmask16 mask = (__mmask16)(left >= 16 ? 0xFFFF : (1u << left) - 1);
                const __m512 d0 = _mm512_maskz_loadu_ps(mask, dr + ox);
                // A lone last channel pairs with zeros (its own strip, masked off entirely).
                const __m512 d1 = _mm512_maskz_loadu_ps(two ? mask : 0, dr + hw + ox);
                TAP(0, a0, b0); TAP(1, a1, b1); TAP(2, a2, b2);
                TAP(3, a3, b3); TAP(4, a4, b4); TAP(5, a5, b5);
                TAP(6, a6, b6); TAP(7, a7, b7); TAP(8, a8, b8);
            }
        }
    }
    const __m512 first[9] = {a0, a1, a2, a3, a4, a5, a6, a7, a8}, second[9] = {b0, b1, b2, b3, b4, b5, b6, b7, b8};
    for (int t = 0; t < 9; t++) dw[t] += _mm512_reduce_add_ps(first[t]);
    if (two) for (int t = 0; t < 9; t++) dw[dw_out_stride + t] += _mm512_reduce_add_ps(second[t]);
}
#undef TAP

__attribute__((target("avx512f")))
static void dweight_avx512(const float *padded, int images, int channels, int height, int width, const float *dy,
                           int out_channels, size_t dy_image_stride, float *dw, size_t dw_out_stride) {
    const size_t plane = padded_plane(height, width), hw = (size_t)height * width, image_stride = (size_t)channels * plane;
    for (int c = 0; c < channels; c++)
        for (int o = 0; o < out_channels; o += 2)
            dweight_pair_avx512(padded + c * plane, images, image_stride, height, width, dy + o * hw, dy_image_stride,
                                out_channels - o >= 2, dw + o * dw_out_stride + c * 9, dw_out_stride);
}

// No AVX2 version: with 16 registers it holds one output channel (9 accumulators), makes 10 loads
// per 9 multiply-adds, and measured no faster than im2col + GEMM (docs/engine.md).
int lsk_conv3x3_weight_grad(const float *padded, int images, int channels, int height, int width, const float *dy,
                            int out_channels, size_t dy_image_stride, float *dw, size_t dw_out_stride) {
    if (lsk_direct_conv_level() < 2) return 0;
    dweight_avx512(padded, images, channels, height, width, dy, out_channels, dy_image_stride, dw, dw_out_stride);
    return 1;
}

size_t lsk_padded_plane_floats(int height, int width) { return padded_plane(height, width); }
