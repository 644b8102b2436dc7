// Bilinear sampling of an RGB byte image along an affine grid into three float planes: the input
// of BlazeFace and FaceMesh (RegionOfInterest.sample), once per frame per model.
//
// Output (i, j) reads the source at (x, y) = corner + i * a + j * b, with taps
// x0 = floor(x), x1 = x0 + 1 (same for y), weights from fx = x - x0, fy = y - y0, and
// v = w00 * p00 + w10 * p10 + w01 * p01 + w11 * p11, scaled by `scale` and shifted by `offset`.
//
// It is bit-identical to the Swift sampler it replaces (tested): the same double-precision
// positions, float weights and order of the sums, and no contraction into fused multiply-adds.
// A strip of 16 outputs whose taps all lie inside the image takes the vector path: the four taps
// of each output come from four gathers of 32 bits (three channels and one spare byte, so the very
// last pixel of the image, whose spare byte lies past the buffer, goes to the scalar path), the
// channels are split with shifts. Everything else (borders, the strip's tail) is scalar.

#include "CKernels.h"

#include <immintrin.h>
#include <math.h>

#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)

static void sample_one(const unsigned char *rgb, int width, int height, double x, double y, int zero_border,
                       float scale, float offset, float *r_out, float *g_out, float *b_out) {
    const double fxd = floor(x), fyd = floor(y);
    const int x0 = (int)fxd, y0 = (int)fyd;
    const float fx = (float)(x - fxd), fy = (float)(y - fyd);
    const float w00 = (1 - fx) * (1 - fy), w10 = fx * (1 - fy), w01 = (1 - fx) * fy, w11 = fx * fy;
    float r = 0, g = 0, b = 0;
    if (x0 >= 0 && y0 >= 0 && x0 + 1 < width && y0 + 1 < height) {
        const size_t o = ((size_t)y0 * width + x0) * 3, o2 = o + (size_t)width * 3;
        r = w00 * rgb[o] + w10 * rgb[o + 3] + w01 * rgb[o2] + w11 * rgb[o2 + 3];
        g = w00 * rgb[o + 1] + w10 * rgb[o + 4] + w01 * rgb[o2 + 1] + w11 * rgb[o2 + 4];
        b = w00 * rgb[o + 2] + w10 * rgb[o + 5] + w01 * rgb[o2 + 2] + w11 * rgb[o2 + 5];
    } else {
        const int xs[4] = {x0, x0 + 1, x0, x0 + 1}, ys[4] = {y0, y0, y0 + 1, y0 + 1};
        const float ws[4] = {w00, w10, w01, w11};
        for (int k = 0; k < 4; k++) {
            int xx = xs[k], yy = ys[k];
            if (xx < 0 || yy < 0 || xx >= width || yy >= height) {
                if (zero_border) continue;
                xx = xx < 0 ? 0 : (xx > width - 1 ? width - 1 : xx);
                yy = yy < 0 ? 0 : (yy > height - 1 ? height - 1 : yy);
            }
            const size_t o = ((size_t)yy * width + xx) * 3;
            r += ws[k] * rgb[o]; g += ws[k] * rgb[o + 1]; b += ws[k] * rgb[o + 2];
        }
    }
    *r_out = r * scale + offset;
    *g_out = g * scale + offset;
    *b_out = b * scale + offset;
}

// Positions of 8 outputs from i: (corner + i * a) + j * b, summed as the Swift sampler sums them.
__attribute__((target("avx512f")))
static inline __m512d position8(double corner, double a, double jb, int i) {
    const __m512d iv = _mm512_cvtepi32_pd(_mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(i)));
    return _mm512_add_pd(_mm512_add_pd(_mm512_set1_pd(corner), _mm512_mul_pd(iv, _mm512_set1_pd(a))), _mm512_set1_pd(jb));
}

// Two halves of 8 floats as one vector of 16 (AVX-512F has no float insert of 8).
__attribute__((target("avx512f")))
static inline __m512 join(__m256 lo, __m256 hi) {
    return _mm512_castsi512_ps(_mm512_inserti64x4(_mm512_castsi256_si512(_mm256_castps_si256(lo)), _mm256_castps_si256(hi), 1));
}

// One channel of four gathered taps: (w00 * p00 + w10 * p10) + w01 * p01 + w11 * p11.
__attribute__((target("avx512f")))
static inline __m512 channel(__m512i t00, __m512i t10, __m512i t01, __m512i t11, int shift,
                             __m512 w00, __m512 w10, __m512 w01, __m512 w11) {
    const __m512i m = _mm512_set1_epi32(0xFF);
    const __m512 p00 = _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(t00, shift), m));
    const __m512 p10 = _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(t10, shift), m));
    const __m512 p01 = _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(t01, shift), m));
    const __m512 p11 = _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(t11, shift), m));
    __m512 v = _mm512_add_ps(_mm512_mul_ps(w00, p00), _mm512_mul_ps(w10, p10));
    v = _mm512_add_ps(v, _mm512_mul_ps(w01, p01));
    return _mm512_add_ps(v, _mm512_mul_ps(w11, p11));
}

// 16 outputs of one row from i; 0 (nothing written) when a tap lies outside the image or is the
// image's last pixel.
__attribute__((target("avx512f")))
static int strip_avx512(const unsigned char *rgb, int width, int height, double tlx, double tly, double ax, double ay,
                        double jbx, double jby, int i, float scale, float offset, float *r_out, float *g_out, float *b_out) {
    const __m512d xa = position8(tlx, ax, jbx, i), xb = position8(tlx, ax, jbx, i + 8);
    const __m512d ya = position8(tly, ay, jby, i), yb = position8(tly, ay, jby, i + 8);
    const __m512d fxa = _mm512_floor_pd(xa), fxb = _mm512_floor_pd(xb), fya = _mm512_floor_pd(ya), fyb = _mm512_floor_pd(yb);
    // Far outside (a region much larger than the image): leave it to the scalar path's checks.
    const __m512d lim = _mm512_set1_pd(1e9);
    if (_mm512_cmp_pd_mask(_mm512_abs_pd(fxa), lim, _CMP_GT_OQ) | _mm512_cmp_pd_mask(_mm512_abs_pd(fxb), lim, _CMP_GT_OQ)
        | _mm512_cmp_pd_mask(_mm512_abs_pd(fya), lim, _CMP_GT_OQ) | _mm512_cmp_pd_mask(_mm512_abs_pd(fyb), lim, _CMP_GT_OQ)
        | (__mmask8)~_mm512_cmp_pd_mask(xa, xa, _CMP_ORD_Q) | (__mmask8)~_mm512_cmp_pd_mask(ya, ya, _CMP_ORD_Q))
        return 0;
    const __m512i x0 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvttpd_epi32(fxa)), _mm512_cvttpd_epi32(fxb), 1);
    const __m512i y0 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvttpd_epi32(fya)), _mm512_cvttpd_epi32(fyb), 1);
    const __mmask16 inside = _mm512_cmpge_epi32_mask(x0, _mm512_setzero_si512()) & _mm512_cmpge_epi32_mask(y0, _mm512_setzero_si512())
        & _mm512_cmplt_epi32_mask(x0, _mm512_set1_epi32(width - 1)) & _mm512_cmplt_epi32_mask(y0, _mm512_set1_epi32(height - 1));
    if (inside != 0xFFFF) return 0;
    const __m512i o00 = _mm512_mullo_epi32(_mm512_add_epi32(_mm512_mullo_epi32(y0, _mm512_set1_epi32(width)), x0), _mm512_set1_epi32(3));
    const __m512i o01 = _mm512_add_epi32(o00, _mm512_set1_epi32(3 * width));
    const __m512i o11 = _mm512_add_epi32(o01, _mm512_set1_epi32(3));
    // The 32-bit load at the last pixel would read one byte past the image.
    if (_mm512_cmpge_epi32_mask(_mm512_add_epi32(o11, _mm512_set1_epi32(4)), _mm512_set1_epi32(width * height * 3 + 1))) return 0;
    const __m512i t00 = _mm512_i32gather_epi32(o00, rgb, 1), t10 = _mm512_i32gather_epi32(_mm512_add_epi32(o00, _mm512_set1_epi32(3)), rgb, 1);
    const __m512i t01 = _mm512_i32gather_epi32(o01, rgb, 1), t11 = _mm512_i32gather_epi32(o11, rgb, 1);
    const __m512 fx = join(_mm512_cvtpd_ps(_mm512_sub_pd(xa, fxa)), _mm512_cvtpd_ps(_mm512_sub_pd(xb, fxb)));
    const __m512 fy = join(_mm512_cvtpd_ps(_mm512_sub_pd(ya, fya)), _mm512_cvtpd_ps(_mm512_sub_pd(yb, fyb)));
    const __m512 one = _mm512_set1_ps(1), gx = _mm512_sub_ps(one, fx), gy = _mm512_sub_ps(one, fy);
    const __m512 w00 = _mm512_mul_ps(gx, gy), w10 = _mm512_mul_ps(fx, gy), w01 = _mm512_mul_ps(gx, fy), w11 = _mm512_mul_ps(fx, fy);
    const __m512 sc = _mm512_set1_ps(scale), of = _mm512_set1_ps(offset);
    _mm512_storeu_ps(r_out, _mm512_add_ps(_mm512_mul_ps(channel(t00, t10, t01, t11, 0, w00, w10, w01, w11), sc), of));
    _mm512_storeu_ps(g_out, _mm512_add_ps(_mm512_mul_ps(channel(t00, t10, t01, t11, 8, w00, w10, w01, w11), sc), of));
    _mm512_storeu_ps(b_out, _mm512_add_ps(_mm512_mul_ps(channel(t00, t10, t01, t11, 16, w00, w10, w01, w11), sc), of));
    return 1;
}

__attribute__((target("avx512f")))
static void sample_avx512(const unsigned char *rgb, int width, int height, double tlx, double tly, double ax, double ay,
                          double bx, double by, int size, int zero_border, float scale, float offset, float *out) {
    const size_t plane = (size_t)size * size;
    for (int j = 0; j < size; j++) {
        const double jbx = (double)j * bx, jby = (double)j * by;
        float *r = out + (size_t)j * size, *g = r + plane, *b = g + plane;
        int i = 0;
        for (; i + 16 <= size; i += 16)
            if (!strip_avx512(rgb, width, height, tlx, tly, ax, ay, jbx, jby, i, scale, offset, r + i, g + i, b + i))
                for (int k = i; k < i + 16; k++)
                    sample_one(rgb, width, height, tlx + (double)k * ax + jbx, tly + (double)k * ay + jby, zero_border, scale, offset, r + k, g + k, b + k);
        for (; i < size; i++)
            sample_one(rgb, width, height, tlx + (double)i * ax + jbx, tly + (double)i * ay + jby, zero_border, scale, offset, r + i, g + i, b + i);
    }
}

int lsk_sample_rgb(const unsigned char *rgb, int width, int height, double tlx, double tly, double ax, double ay,
                   double bx, double by, int size, int zero_border, float scale, float offset, float *out) {
    if (lsk_direct_conv_level() < 2 || width < 2 || height < 2) return 0;
    sample_avx512(rgb, width, height, tlx, tly, ax, ay, bx, by, size, zero_border, scale, offset, out);
    return 1;
}
