// oneDNN (Debian's libdnnl 2.6, what PyTorch's CPU convolutions use) behind the engine's Conv2d.
// The engine keeps its NCHW tensors and PyTorch weight layouts; each call reorders them into the
// blocked layouts oneDNN's kernels pick for themselves and back (Sources/NN/Conv2d.swift, docs/engine.md).
// C because oneDNN's API is C, and the primitive cache and reorders read more plainly here than
// through Swift's view of its opaque handles.
#ifndef LIPSYNC_CONEDNN_H
#define LIPSYNC_CONEDNN_H

/// One convolution geometry: input n x c x h x w into oc channels, PyTorch semantics (weight
/// [oc][c/groups][kh][kw], symmetric padding ph, pw).
typedef struct {
    int n, c, h, w, oc, kh, kw, sh, sw, ph, pw, groups;
    int has_bias;
    /// 0: forward only (inference); 1: forward and weight gradient; 2: also dL/dx.
    int backward;
} lsd_conv_shape;

/// A convolution's primitives for one geometry, with the memories and reorders they need.
typedef struct lsd_conv lsd_conv;

/// 1 when oneDNN loaded and made a CPU engine (once per process; LIPSYNC_ONEDNN_THREADS or the
/// engine's worker count sets its OpenMP threads).
int lsd_available(int threads);
/// NULL when oneDNN cannot run this geometry; lsd_last_error() says why.
lsd_conv *lsd_conv_create(const lsd_conv_shape *shape);
void lsd_conv_destroy(lsd_conv *conv);
/// y = conv(x, w) + b, every tensor in the engine's layout. `b` may be NULL without a bias.
int lsd_conv_forward(lsd_conv *conv, const float *x, const float *w, const float *b, float *y);
/// dw += dL/dw and db += dL/db (db may be NULL), then dL/dx = conv^T(dy, w) overwriting dx unless
/// dx is NULL (a frozen input). x is the input of the last forward through this geometry when it is
/// that tensor (its reorder is reused), or any x given.
int lsd_conv_backward(lsd_conv *conv, const float *x, const float *dy, const float *w, float *dw, float *db, float *dx);
/// Names of the implementations oneDNN chose (forward | weights | data), for benchmarks.
const char *lsd_conv_implementation(const lsd_conv *conv);
const char *lsd_last_error(void);

#endif
