// Direct 3x3 stride-1 convolution kernels for the engine (Sources/NN/Conv2d.swift).
// C because Swift cannot compile one function for AVX-512 and another for AVX2 in the same binary
// and pick at run time; the package is otherwise built for baseline x86-64.
#ifndef LIPSYNC_CKERNELS_H
#define LIPSYNC_CKERNELS_H

#include <stddef.h>

/// Output channels per packed weight block.
#define LSK_BLOCK 16

/// 2: AVX-512F kernels, 1: AVX2 + FMA kernels, 0: none (the engine keeps its im2col path).
/// LIPSYNC_DIRECT_CONV=0 or 1 in the environment lowers it (comparisons, testing the AVX2 kernel).
int lsk_direct_conv_level(void);

/// Floats of the zero-bordered copy of one image of `channels` planes of height x width.
size_t lsk_padded_floats(int channels, int height, int width);
/// Copies one image (channels planes of height x width) into `padded`, with a one-pixel zero border.
void lsk_pad(const float *x, int channels, int height, int width, float *padded);

/// Floats of the packed weights for `out` output and `in` input channels.
size_t lsk_packed_floats(int out, int in);
/// Packs PyTorch-layout weights w[cout][cin][3][3] into blocks of LSK_BLOCK output channels,
/// packed[block][c][tap][LSK_BLOCK], zero past the last channel. With `backward_data` set, the
/// kernel computed is dL/dx = conv(dL/dy, w flipped, channels swapped): out = cin, in = cout.
void lsk_pack3x3(const float *w, int cout, int cin, int backward_data, float *packed);

/// One block of `count` (<= LSK_BLOCK) output channels of one image, from its padded input of
/// `channels` planes: y[o][oy][ox] = bias[o] + sum over c and the 3x3 taps. `block` points at the
/// block's packed weights, `bias` at its first bias (or NULL), `y` at its first output plane.
void lsk_conv3x3_block(const float *padded, int channels, int height, int width, const float *block,
                       const float *bias, int count, float *y);

/// Stride 2, padding 1: floats of the column-split copy of one image (lsk_pad_split2), and the copy:
/// each zero-bordered row stored as its even columns, then its odd ones.
size_t lsk_split2_floats(int channels, int height, int width);
void lsk_pad_split2(const float *x, int channels, int height, int width, float *split);
/// lsk_conv3x3_block at stride 2 from lsk_pad_split2's copy of an input of height x width, into
/// (height + 1) / 2 x (width + 1) / 2 output planes. AVX-512 only: returns 0 and does nothing below
/// level 2, 1 when done.
int lsk_conv3x3s2_block(const float *split, int channels, int height, int width, const float *block,
                        const float *bias, int count, float *y);

/// Floats of one zero-bordered plane (lsk_pad lays `channels` of them one after another).
size_t lsk_padded_plane_floats(int height, int width);

/// Adds the weight gradient of the same convolution over `images` images into `dw`:
/// dw[o * dw_out_stride + c * 9 + ky * 3 + kx] += sum_n sum_p dy[n][o][p] * x[n][c][p + (ky - 1, kx - 1)]
/// for o < out_channels and c < channels. `padded` holds each image's `channels` padded planes,
/// image after image (lsk_pad's layout, `channels` planes apart), followed by 32 floats of zero
/// slack; image n's dL/dy plane o starts at dy + n * dy_image_stride + o * height * width.
/// AVX-512 only: returns 0 and does nothing below level 2, 1 when done.
int lsk_conv3x3_weight_grad(const float *padded, int images, int channels, int height, int width, const float *dy,
                            int out_channels, size_t dy_image_stride, float *dw, size_t dw_out_stride);

/// Floats of the scratch buffer lsk_depthwise3x3 needs for a height x width plane.
size_t lsk_depthwise_scratch_floats(int height, int width);

/// One plane of a depthwise 3x3 convolution, stride 1 or 2, zero padding 0 or 1 on every side:
/// y[oy][ox] = bias + sum w[ky * 3 + kx] * x[oy * stride + ky - pad][ox * stride + kx - pad], into
/// ho x wo outputs. AVX-512 only: returns 0 and does nothing below level 2 or for other strides and
/// paddings, 1 when done.
int lsk_depthwise3x3(const float *x, int height, int width, int stride, int pad, const float *w, float bias,
                     float *y, int ho, int wo, float *scratch);

/// Bilinear samples of an RGB byte image (width x height, 3 bytes per pixel) on the grid
/// (x, y) = (tl + i * a) + j * b for i, j < size, into three size x size float planes at `out`
/// (value * scale + offset; outside the image zeros with `zero_border`, else the edge repeated).
/// Bit-identical to RegionOfInterest.sample's Swift loop. AVX-512 only: returns 0 and does nothing
/// below level 2, 1 when done.
int lsk_sample_rgb(const unsigned char *rgb, int width, int height, double tlx, double tly, double ax, double ay,
                   double bx, double by, int size, int zero_border, float scale, float offset, float *out);

/// Inference batches of up to 16 images side by side in the vector lanes (CKernels/Lanes.c): the
/// layout lanes[c][y][x][16] with a one-pixel zero border, for 3x3 convolutions with padding 1.
/// Floats of one such buffer for `channels` planes of height x width.
size_t lsk_lanes_floats(int channels, int height, int width);
/// Zeroes `lanes` and fills it with `count` (1...16) NCHW images starting at `x`; lanes past
/// `count` stay zero. AVX-512 or AVX2: returns 0 and does nothing below level 1, 1 when done.
int lsk_lanes_from_nchw(const float *x, int count, int channels, int height, int width, float *lanes);
/// The first `count` lanes' interiors back to NCHW images at `y`.
void lsk_lanes_to_nchw(const float *lanes, int count, int channels, int height, int width, float *y);
/// Floats of weights packed for lsk_lanes_conv3x3.
size_t lsk_lanes_packed_floats(int cout, int cin);
/// Packs w[cout][cin][3][3] as packed[cout / 8][cin][tap][8], zero past the last channel.
void lsk_lanes_pack3x3(const float *w, int cout, int cin, float *packed);
/// out = [relu](bias + residual + conv3x3(in)), stride sh x sw, padding 1, into the interior of
/// `out` (cout planes of ho x wo; its border is left as it is, so it stays zero once zeroed).
/// `residual` (NULL for none) has out's layout. AVX-512, or AVX2 with two registers per 16-lane vector: returns 0 below level 1, 1 when done.
int lsk_lanes_conv3x3(const float *in, int cin, int h, int w, int sh, int sw, const float *packed, const float *bias,
                      int cout, const float *residual, int relu, float *out, int ho, int wo);

#endif
