// oneDNN convolutions for the engine's Conv2d: see include/COneDNN.h.
//
// Per geometry, three primitives (forward, weight gradient, input gradient) are created once, each
// with the memory layouts oneDNN chose for its kernels (format "any": nChw16c and blocked weights
// on AVX-512). A "port" joins one of the engine's plain NCHW / OIHW tensors to one primitive
// argument: when the chosen layout is the plain one the engine's pointer is handed over directly,
// otherwise through a reorder into (or out of) a buffer the port owns. Weights change every
// training step, so their reorder runs on every call; the forward input's reorder is kept and
// reused by the weight gradient, which reads the same tensor.
#include "COneDNN.h"

#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char last_error[256];
const char *lsd_last_error(void) { return last_error; }

#define TRY(call)                                                                                 \
    do {                                                                                          \
        dnnl_status_t s_ = (call);                                                                \
        if (s_ != dnnl_success) {                                                                 \
            snprintf(last_error, sizeof last_error, "oneDNN: %s failed (status %d)", #call, (int)s_); \
            goto fail;                                                                            \
        }                                                                                         \
    } while (0)

static dnnl_engine_t engine;
static dnnl_stream_t stream;
static int state;  // 0 untried, 1 ready, -1 unavailable

int lsd_available(int threads) {
    if (state) return state == 1;
    state = -1;
    // Debian's build runs OpenMP; its team follows the engine's worker count unless told otherwise.
    const char *env = getenv("LIPSYNC_ONEDNN_THREADS");
    int n = env ? atoi(env) : threads;
    void (*set_threads)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    if (set_threads && n > 0) set_threads(n);
    TRY(dnnl_engine_create(&engine, dnnl_cpu, 0));
    TRY(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    state = 1;
    return 1;
fail:
    return 0;
}

typedef struct {
    dnnl_memory_t user;      // the engine's tensor (handle set per call)
    dnnl_memory_t staged;    // the primitive's layout, owned; NULL when it is the plain one
    dnnl_primitive_t reorder;
} Port;

struct lsd_conv {
    lsd_conv_shape s;
    dnnl_primitive_desc_t fwd_pd, weights_pd, data_pd;
    dnnl_primitive_t fwd, weights, data;
    Port fwd_src, fwd_wei, fwd_dst, w_src, w_ddst, w_dwei, d_ddst, d_wei, d_dsrc;
    dnnl_memory_t fwd_bias, w_dbias;
    float *dw, *db;           // weight and bias gradients in plain layout, before accumulating
    size_t wcount;
    const float *reordered_x; // the input whose forward reorder fwd_src.staged holds
    int forward_ran;
    char impl[512];
};

static const dnnl_memory_desc_t *md_of(const_dnnl_primitive_desc_t pd, dnnl_query_t what) {
    return dnnl_primitive_desc_query_md(pd, what, 0);
}

// A port between a plain descriptor and a primitive's chosen one; `in`: engine -> primitive.
static int port_init(Port *p, const dnnl_memory_desc_t *plain, const dnnl_memory_desc_t *chosen, int in) {
    dnnl_primitive_desc_t rpd = NULL;
    TRY(dnnl_memory_create(&p->user, plain, engine, DNNL_MEMORY_NONE));
    if (dnnl_memory_desc_equal(plain, chosen)) return 1;
    TRY(dnnl_memory_create(&p->staged, chosen, engine, DNNL_MEMORY_ALLOCATE));
    if (in) TRY(dnnl_reorder_primitive_desc_create(&rpd, plain, engine, chosen, engine, NULL));
    else TRY(dnnl_reorder_primitive_desc_create(&rpd, chosen, engine, plain, engine, NULL));
    TRY(dnnl_primitive_create(&p->reorder, rpd));
    dnnl_primitive_desc_destroy(rpd);
    return 1;
fail:
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    return 0;
}

static void port_free(Port *p) {
    if (p->reorder) dnnl_primitive_destroy(p->reorder);
    if (p->staged) dnnl_memory_destroy(p->staged);
    if (p->user) dnnl_memory_destroy(p->user);
}

// The memory a primitive reads (after reordering the engine's tensor into it when needed).
static dnnl_memory_t port_in(Port *p, const float *data) {
    if (dnnl_memory_set_data_handle(p->user, (void *)data) != dnnl_success) return NULL;
    if (!p->staged) return p->user;
    dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, p->user}, {DNNL_ARG_TO, p->staged}};
    if (dnnl_primitive_execute(p->reorder, stream, 2, args) != dnnl_success) return NULL;
    return p->staged;
}

// The memory a primitive writes; port_out_finish copies it into the engine's tensor when staged.
static dnnl_memory_t port_out(Port *p, float *data) {
    if (dnnl_memory_set_data_handle(p->user, data) != dnnl_success) return NULL;
    return p->staged ? p->staged : p->user;
}

static int port_out_finish(Port *p) {
    if (!p->staged) return 1;
    dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, p->staged}, {DNNL_ARG_TO, p->user}};
    return dnnl_primitive_execute(p->reorder, stream, 2, args) == dnnl_success;
}

lsd_conv *lsd_conv_create(const lsd_conv_shape *s) {
    if (state != 1) { snprintf(last_error, sizeof last_error, "oneDNN is not available"); return NULL; }
    if (s->groups < 1 || s->c % s->groups || s->oc % s->groups) {
        snprintf(last_error, sizeof last_error, "oneDNN: channels not divisible by groups");
        return NULL;
    }
    lsd_conv *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->s = *s;
    int ho = (s->h + 2 * s->ph - s->kh) / s->sh + 1, wo = (s->w + 2 * s->pw - s->kw) / s->sw + 1;
    dnnl_dims_t src_dims = {s->n, s->c, s->h, s->w}, dst_dims = {s->n, s->oc, ho, wo}, bias_dims = {s->oc};
    dnnl_dims_t strides = {s->sh, s->sw}, pad_l = {s->ph, s->pw};
    // oneDNN wants the right padding that makes the output size exact (PyTorch drops the remainder).
    dnnl_dims_t pad_r = {(ho - 1) * s->sh + s->kh - s->h - s->ph, (wo - 1) * s->sw + s->kw - s->w - s->pw};
    dnnl_memory_desc_t src, dst, wei, bias, p_src, p_dst, p_wei;
    TRY(dnnl_memory_desc_init_by_tag(&p_src, 4, src_dims, dnnl_f32, dnnl_nchw));
    TRY(dnnl_memory_desc_init_by_tag(&p_dst, 4, dst_dims, dnnl_f32, dnnl_nchw));
    TRY(dnnl_memory_desc_init_by_tag(&src, 4, src_dims, dnnl_f32, dnnl_format_tag_any));
    TRY(dnnl_memory_desc_init_by_tag(&dst, 4, dst_dims, dnnl_f32, dnnl_format_tag_any));
    TRY(dnnl_memory_desc_init_by_tag(&bias, 1, bias_dims, dnnl_f32, dnnl_x));
    if (s->groups > 1) {
        dnnl_dims_t d = {s->groups, s->oc / s->groups, s->c / s->groups, s->kh, s->kw};
        TRY(dnnl_memory_desc_init_by_tag(&p_wei, 5, d, dnnl_f32, dnnl_goihw));
        TRY(dnnl_memory_desc_init_by_tag(&wei, 5, d, dnnl_f32, dnnl_format_tag_any));
    } else {
        dnnl_dims_t d = {s->oc, s->c, s->kh, s->kw};
        TRY(dnnl_memory_desc_init_by_tag(&p_wei, 4, d, dnnl_f32, dnnl_oihw));
        TRY(dnnl_memory_desc_init_by_tag(&wei, 4, d, dnnl_f32, dnnl_format_tag_any));
    }
    const dnnl_memory_desc_t *b = s->has_bias ? &bias : NULL;
    dnnl_convolution_desc_t fd, wd, dd;
    dnnl_prop_kind_t prop = s->backward ? dnnl_forward_training : dnnl_forward_inference;
    TRY(dnnl_convolution_forward_desc_init(&fd, prop, dnnl_convolution_direct, &src, &wei, b, &dst, strides, pad_l, pad_r));
    TRY(dnnl_primitive_desc_create(&c->fwd_pd, &fd, NULL, engine, NULL));
    TRY(dnnl_primitive_create(&c->fwd, c->fwd_pd));
    if (!port_init(&c->fwd_src, &p_src, md_of(c->fwd_pd, dnnl_query_src_md), 1)) goto fail;
    if (!port_init(&c->fwd_wei, &p_wei, md_of(c->fwd_pd, dnnl_query_weights_md), 1)) goto fail;
    if (!port_init(&c->fwd_dst, &p_dst, md_of(c->fwd_pd, dnnl_query_dst_md), 0)) goto fail;
    if (s->has_bias) TRY(dnnl_memory_create(&c->fwd_bias, &bias, engine, DNNL_MEMORY_NONE));
    const char *name = "?";
    dnnl_primitive_desc_query(c->fwd_pd, dnnl_query_impl_info_str, 0, &name);
    int at = snprintf(c->impl, sizeof c->impl, "%s", name);

    if (s->backward >= 1) {
        TRY(dnnl_convolution_backward_weights_desc_init(&wd, dnnl_convolution_direct, &src, &wei, b, &dst, strides, pad_l, pad_r));
        TRY(dnnl_primitive_desc_create(&c->weights_pd, &wd, NULL, engine, c->fwd_pd));
        TRY(dnnl_primitive_create(&c->weights, c->weights_pd));
        if (!port_init(&c->w_src, &p_src, md_of(c->weights_pd, dnnl_query_src_md), 1)) goto fail;
        if (!port_init(&c->w_ddst, &p_dst, md_of(c->weights_pd, dnnl_query_diff_dst_md), 1)) goto fail;
        if (!port_init(&c->w_dwei, &p_wei, md_of(c->weights_pd, dnnl_query_diff_weights_md), 0)) goto fail;
        c->wcount = dnnl_memory_desc_get_size(&p_wei) / sizeof(float);
        c->dw = malloc(c->wcount * sizeof(float));
        if (!c->dw) goto fail;
        if (s->has_bias) {
            TRY(dnnl_memory_create(&c->w_dbias, &bias, engine, DNNL_MEMORY_NONE));
            c->db = malloc(s->oc * sizeof(float));
            if (!c->db) goto fail;
        }
        dnnl_primitive_desc_query(c->weights_pd, dnnl_query_impl_info_str, 0, &name);
        at += snprintf(c->impl + at, sizeof c->impl - at, " | %s", name);
    }
    if (s->backward >= 2) {
        TRY(dnnl_convolution_backward_data_desc_init(&dd, dnnl_convolution_direct, &src, &wei, &dst, strides, pad_l, pad_r));
        TRY(dnnl_primitive_desc_create(&c->data_pd, &dd, NULL, engine, c->fwd_pd));
        TRY(dnnl_primitive_create(&c->data, c->data_pd));
        if (!port_init(&c->d_ddst, &p_dst, md_of(c->data_pd, dnnl_query_diff_dst_md), 1)) goto fail;
        if (!port_init(&c->d_wei, &p_wei, md_of(c->data_pd, dnnl_query_weights_md), 1)) goto fail;
        if (!port_init(&c->d_dsrc, &p_src, md_of(c->data_pd, dnnl_query_diff_src_md), 0)) goto fail;
        dnnl_primitive_desc_query(c->data_pd, dnnl_query_impl_info_str, 0, &name);
        snprintf(c->impl + at, sizeof c->impl - at, " | %s", name);
    }
    return c;
fail:
    lsd_conv_destroy(c);
    return NULL;
}

void lsd_conv_destroy(lsd_conv *c) {
    if (!c) return;
    Port *ports[] = {&c->fwd_src, &c->fwd_wei, &c->fwd_dst, &c->w_src, &c->w_ddst, &c->w_dwei, &c->d_ddst, &c->d_wei, &c->d_dsrc};
    for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++) port_free(ports[i]);
    dnnl_primitive_t prims[] = {c->fwd, c->weights, c->data};
    for (int i = 0; i < 3; i++) if (prims[i]) dnnl_primitive_destroy(prims[i]);
    dnnl_primitive_desc_t pds[] = {c->fwd_pd, c->weights_pd, c->data_pd};
    for (int i = 0; i < 3; i++) if (pds[i]) dnnl_primitive_desc_destroy(pds[i]);
    if (c->fwd_bias) dnnl_memory_destroy(c->fwd_bias);
    if (c->w_dbias) dnnl_memory_destroy(c->w_dbias);
    free(c->dw);
    free(c->db);
    free(c);
}

const char *lsd_conv_implementation(const lsd_conv *c) { return c->impl; }

static int failed(const char *what) {
    snprintf(last_error, sizeof last_error, "oneDNN: %s failed", what);
    return 0;
}

int lsd_conv_forward(lsd_conv *c, const float *x, const float *w, const float *b, float *y) {
    dnnl_memory_t ms = port_in(&c->fwd_src, x), mw = port_in(&c->fwd_wei, w), md = port_out(&c->fwd_dst, y);
    if (!ms || !mw || !md) return failed("forward reorder");
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, ms}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, md}};
    int nargs = 3;
    if (c->fwd_bias) {
        if (!b || dnnl_memory_set_data_handle(c->fwd_bias, (void *)b) != dnnl_success) return failed("forward bias");
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, c->fwd_bias};
    }
    if (dnnl_primitive_execute(c->fwd, stream, nargs, args) != dnnl_success || !port_out_finish(&c->fwd_dst))
        return failed("forward");
    if (dnnl_stream_wait(stream) != dnnl_success) return failed("forward wait");
    c->reordered_x = x;
    c->forward_ran = 1;
    return 1;
}

// dL/dx into dx; `mdy` is dy already in the weight-gradient primitive's layout when that matches.
static int backward_data(lsd_conv *c, const float *dy, dnnl_memory_t mdy, const float *w, float *dx) {
    if (!c->data) return failed("backward data (not created)");
    if (!mdy) mdy = port_in(&c->d_ddst, dy);
    dnnl_memory_t mw = port_in(&c->d_wei, w), mdx = port_out(&c->d_dsrc, dx);
    if (!mdy || !mw || !mdx) return failed("backward data reorder");
    dnnl_exec_arg_t args[] = {{DNNL_ARG_DIFF_DST, mdy}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DIFF_SRC, mdx}};
    if (dnnl_primitive_execute(c->data, stream, 3, args) != dnnl_success || !port_out_finish(&c->d_dsrc))
        return failed("backward data");
    if (dnnl_stream_wait(stream) != dnnl_success) return failed("backward data wait");
    return 1;
}

int lsd_conv_backward(lsd_conv *c, const float *x, const float *dy, const float *w, float *dw, float *db, float *dx) {
    if (!c->weights) return failed("backward weights (not created)");
    dnnl_memory_t ms;
    // The forward's reorder of this very input is reused when both primitives chose one layout.
    if (c->forward_ran && x == c->reordered_x && c->fwd_src.staged && c->w_src.staged &&
        dnnl_memory_desc_equal(md_of(c->fwd_pd, dnnl_query_src_md), md_of(c->weights_pd, dnnl_query_src_md)))
        ms = c->fwd_src.staged;
    else
        ms = port_in(&c->w_src, x);
    dnnl_memory_t mdy = port_in(&c->w_ddst, dy), mdw = port_out(&c->w_dwei, c->dw);
    if (!ms || !mdy || !mdw) return failed("backward weights reorder");
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, ms}, {DNNL_ARG_DIFF_DST, mdy}, {DNNL_ARG_DIFF_WEIGHTS, mdw}};
    int nargs = 3;
    if (c->w_dbias) {
        if (dnnl_memory_set_data_handle(c->w_dbias, c->db) != dnnl_success) return failed("backward bias");
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_BIAS, c->w_dbias};
    }
    if (dnnl_primitive_execute(c->weights, stream, nargs, args) != dnnl_success || !port_out_finish(&c->w_dwei))
        return failed("backward weights");
    if (dnnl_stream_wait(stream) != dnnl_success) return failed("backward weights wait");
    // The engine accumulates gradients (several passes may add to one parameter before a step).
    for (size_t i = 0; i < c->wcount; i++) dw[i] += c->dw[i];
    if (db && c->db) for (int i = 0; i < c->s.oc; i++) db[i] += c->db[i];
    if (!dx) return 1;
    // One reorder of dy serves both primitives when they chose the same layout for it.
    int shared = dnnl_memory_desc_equal(md_of(c->weights_pd, dnnl_query_diff_dst_md), md_of(c->data_pd, dnnl_query_diff_dst_md));
    return backward_data(c, dy, shared ? mdy : NULL, w, dx);
}
