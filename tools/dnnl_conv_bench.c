// oneDNN on the convolutions `lipsync-bench conv-layers` timed in LipSync's engine: the same shapes,
// the same thread count, the same statistic (median of --runs after one warm-up), so the two
// columns of each row compare directly. Issue 13 asks whether oneDNN (Debian's libdnnl-dev 2.6,
// what PyTorch's CPU convolutions use) should sit behind the engine's Conv2d; this answers it with
// numbers, per layer and summed over each network.
//
// Two layouts:
//   plain   the engine's own NCHW tensors and PyTorch weight layouts (oihw / iohw), so oneDNN could
//           be dropped in behind Conv2d with no change elsewhere;
//   blocked every tensor in the layout oneDNN picks for itself (format "any"). The kernels alone are
//           the best it could do if the whole engine, BatchNorm and ReLU included, moved to its
//           blocked layouts; the reorders to and from NCHW, timed beside them, are what a backend
//           converting on every call pays (as PyTorch's NCHW tensors do).
//
// Build and run: `make bench-dnnl` (OMP_NUM_THREADS=2: Debian's oneDNN uses OpenMP).
// Usage: dnnl_conv_bench TABLE.tsv [--runs N] [--layout plain|blocked]

#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(call)                                                                      \
    do {                                                                                 \
        dnnl_status_t s_ = (call);                                                       \
        if (s_ != dnnl_success) {                                                        \
            fprintf(stderr, "dnnl_conv_bench: %s failed (status %d) at line %d\n", #call, \
                    (int)s_, __LINE__);                                                  \
            exit(2);                                                                     \
        }                                                                                \
    } while (0)

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *xs, int n) {
    qsort(xs, n, sizeof(double), compare);
    return n % 2 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
}

typedef struct {
    char net[32], kind[16];
    int count, n, c, h, w, oc, kh, kw, sh, sw, ph, pw, oph, opw, groups, dx;
    double ours_forward, ours_backward;
} Row;

static dnnl_engine_t engine;
static dnnl_stream_t stream;

// A memory of descriptor md filled with small values (denormals or NaNs would distort timings).
static dnnl_memory_t memory(const dnnl_memory_desc_t *md) {
    dnnl_memory_t m;
    CHECK(dnnl_memory_create(&m, md, engine, DNNL_MEMORY_ALLOCATE));
    void *p;
    CHECK(dnnl_memory_get_data_handle(m, &p));
    size_t count = dnnl_memory_desc_get_size(md) / sizeof(float);
    float *f = p;
    for (size_t i = 0; i < count; i++) f[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return m;
}

static const dnnl_memory_desc_t *query(const_dnnl_primitive_desc_t pd, dnnl_query_t what) {
    return dnnl_primitive_desc_query_md(pd, what, 0);
}

static const char *implementation(const_dnnl_primitive_desc_t pd) {
    const char *name = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name);
    return name;
}

static double timed(dnnl_primitive_t p, int nargs, const dnnl_exec_arg_t *args, int runs) {
    double ts[64];
    CHECK(dnnl_primitive_execute(p, stream, nargs, args));
    CHECK(dnnl_stream_wait(stream));
    for (int r = 0; r < runs; r++) {
        double t0 = now();
        CHECK(dnnl_primitive_execute(p, stream, nargs, args));
        CHECK(dnnl_stream_wait(stream));
        ts[r] = now() - t0;
    }
    return median(ts, runs);
}

typedef struct { double forward, backward, forward_reorders, backward_reorders; const char *fwd_impl, *bwd_impl; } Result;

// Time of converting one tensor between the engine's plain layout and the one a primitive chose
// (zero when they are the same): what a per-call backend behind NCHW tensors pays, as PyTorch does.
static double reorder_time(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to, int runs) {
    if (dnnl_memory_desc_equal(from, to)) return 0;
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_reorder_primitive_desc_create(&pd, from, engine, to, engine, NULL));
    dnnl_primitive_t p;
    CHECK(dnnl_primitive_create(&p, pd));
    dnnl_memory_t a = memory(from), b = memory(to);
    dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, a}, {DNNL_ARG_TO, b}};
    double t = timed(p, 2, args, runs);
    dnnl_primitive_destroy(p);
    dnnl_primitive_desc_destroy(pd);
    dnnl_memory_destroy(a);
    dnnl_memory_destroy(b);
    return t;
}

// The weights' descriptor: PyTorch's layout (oihw; goihw with groups; ConvTranspose2d's [Cin, Cout,
// kh, kw], which is oneDNN's iohw of dims {oc, ic, kh, kw}), or "any" for oneDNN to choose.
static void weights_desc(const Row *r, int deconv, int any, dnnl_memory_desc_t *md) {
    if (!deconv && r->groups > 1) {
        dnnl_dims_t d = {r->groups, r->oc / r->groups, r->c / r->groups, r->kh, r->kw};
        CHECK(dnnl_memory_desc_init_by_tag(md, 5, d, dnnl_f32, any ? dnnl_format_tag_any : dnnl_goihw));
        return;
    }
    dnnl_dims_t d = {r->oc, r->c, r->kh, r->kw};
    CHECK(dnnl_memory_desc_init_by_tag(md, 4, d, dnnl_f32, any ? dnnl_format_tag_any : deconv ? dnnl_iohw : dnnl_oihw));
}

static Result measure(const Row *r, int blocked, int runs) {
    int deconv = strcmp(r->kind, "deconv") == 0;
    int ho, wo;
    if (deconv) {
        ho = (r->h - 1) * r->sh - 2 * r->ph + r->kh + r->oph;
        wo = (r->w - 1) * r->sw - 2 * r->pw + r->kw + r->opw;
    } else {
        ho = (r->h + 2 * r->ph - r->kh) / r->sh + 1;
        wo = (r->w + 2 * r->pw - r->kw) / r->sw + 1;
    }
    dnnl_dims_t src_dims = {r->n, r->c, r->h, r->w}, dst_dims = {r->n, r->oc, ho, wo};
    dnnl_dims_t bias_dims = {r->oc};
    dnnl_dims_t strides = {r->sh, r->sw}, pad_l = {r->ph, r->pw}, pad_r = {r->ph - r->oph, r->pw - r->opw};
    if (!deconv) {
        // oneDNN wants the right padding that makes the output size exact.
        pad_r[0] = (ho - 1) * r->sh + r->kh - r->h - r->ph;
        pad_r[1] = (wo - 1) * r->sw + r->kw - r->w - r->pw;
    }
    // The engine's own layouts (plain_*), and those the primitives are asked for: the same, or "any".
    dnnl_memory_desc_t src, wei, bias, dst, plain_src, plain_wei, plain_dst;
    dnnl_format_tag_t act = blocked ? dnnl_format_tag_any : dnnl_nchw;
    CHECK(dnnl_memory_desc_init_by_tag(&plain_src, 4, src_dims, dnnl_f32, dnnl_nchw));
    CHECK(dnnl_memory_desc_init_by_tag(&plain_dst, 4, dst_dims, dnnl_f32, dnnl_nchw));
    CHECK(dnnl_memory_desc_init_by_tag(&src, 4, src_dims, dnnl_f32, act));
    CHECK(dnnl_memory_desc_init_by_tag(&dst, 4, dst_dims, dnnl_f32, act));
    CHECK(dnnl_memory_desc_init_by_tag(&bias, 1, bias_dims, dnnl_f32, dnnl_x));
    weights_desc(r, deconv, 0, &plain_wei);
    weights_desc(r, deconv, blocked, &wei);
    dnnl_primitive_desc_t fwd_pd, bwd_data_pd = NULL, bwd_weights_pd;
    if (deconv) {
        dnnl_deconvolution_desc_t f, bd, bw;
        CHECK(dnnl_deconvolution_forward_desc_init(&f, dnnl_forward_training, dnnl_deconvolution_direct, &src, &wei, &bias, &dst,
                                                   strides, pad_l, pad_r));
        CHECK(dnnl_primitive_desc_create(&fwd_pd, &f, NULL, engine, NULL));
        CHECK(dnnl_deconvolution_backward_data_desc_init(&bd, dnnl_deconvolution_direct, &src, &wei, &dst, strides, pad_l, pad_r));
        CHECK(dnnl_primitive_desc_create(&bwd_data_pd, &bd, NULL, engine, fwd_pd));
        CHECK(dnnl_deconvolution_backward_weights_desc_init(&bw, dnnl_deconvolution_direct, &src, &wei, &bias, &dst, strides,
                                                            pad_l, pad_r));
        CHECK(dnnl_primitive_desc_create(&bwd_weights_pd, &bw, NULL, engine, fwd_pd));
    } else {
        dnnl_convolution_desc_t f, bd, bw;
        CHECK(dnnl_convolution_forward_desc_init(&f, dnnl_forward_training, dnnl_convolution_direct, &src, &wei, &bias, &dst,
                                                 strides, pad_l, pad_r));
        CHECK(dnnl_primitive_desc_create(&fwd_pd, &f, NULL, engine, NULL));
        if (r->dx) {
            CHECK(dnnl_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &src, &wei, &dst, strides, pad_l, pad_r));
            CHECK(dnnl_primitive_desc_create(&bwd_data_pd, &bd, NULL, engine, fwd_pd));
        }
        CHECK(dnnl_convolution_backward_weights_desc_init(&bw, dnnl_convolution_direct, &src, &wei, &bias, &dst, strides, pad_l,
                                                          pad_r));
        CHECK(dnnl_primitive_desc_create(&bwd_weights_pd, &bw, NULL, engine, fwd_pd));
    }

    // Each primitive gets memories in the layouts it chose (the same as plain ones in plain mode).
    dnnl_memory_t x = memory(query(fwd_pd, dnnl_query_src_md)), w = memory(query(fwd_pd, dnnl_query_weights_md));
    dnnl_memory_t b = memory(&bias), y = memory(query(fwd_pd, dnnl_query_dst_md));
    dnnl_memory_t ws = NULL;
    const dnnl_memory_desc_t *ws_md = query(fwd_pd, dnnl_query_workspace_md);
    if (ws_md && dnnl_memory_desc_get_size(ws_md) > 0) ws = memory(ws_md);
    dnnl_primitive_t fwd, bwd_weights, bwd_data = NULL;
    CHECK(dnnl_primitive_create(&fwd, fwd_pd));
    dnnl_exec_arg_t fargs[] = {{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, b}, {DNNL_ARG_DST, y}};
    Result res = {0, 0, 0, 0, implementation(fwd_pd), implementation(bwd_weights_pd)};
    res.forward = timed(fwd, 4, fargs, runs);
    res.forward_reorders = reorder_time(&plain_src, query(fwd_pd, dnnl_query_src_md), runs)
                         + reorder_time(&plain_wei, query(fwd_pd, dnnl_query_weights_md), runs)
                         + reorder_time(query(fwd_pd, dnnl_query_dst_md), &plain_dst, runs);

    dnnl_memory_t bx = memory(query(bwd_weights_pd, dnnl_query_src_md));
    dnnl_memory_t bdy = memory(query(bwd_weights_pd, dnnl_query_diff_dst_md));
    dnnl_memory_t dw = memory(query(bwd_weights_pd, dnnl_query_diff_weights_md)), db = memory(&bias);
    CHECK(dnnl_primitive_create(&bwd_weights, bwd_weights_pd));
    dnnl_exec_arg_t wargs[] = {{DNNL_ARG_SRC, bx}, {DNNL_ARG_DIFF_DST, bdy}, {DNNL_ARG_DIFF_WEIGHTS, dw}, {DNNL_ARG_DIFF_BIAS, db}};
    res.backward = timed(bwd_weights, 4, wargs, runs);
    res.backward_reorders = reorder_time(&plain_src, query(bwd_weights_pd, dnnl_query_src_md), runs)
                          + reorder_time(&plain_dst, query(bwd_weights_pd, dnnl_query_diff_dst_md), runs)
                          + reorder_time(query(bwd_weights_pd, dnnl_query_diff_weights_md), &plain_wei, runs);
    dnnl_memory_t ddy = NULL, dxm = NULL, dwei = NULL;
    if (bwd_data_pd) {
        ddy = memory(query(bwd_data_pd, dnnl_query_diff_dst_md));
        dwei = memory(query(bwd_data_pd, dnnl_query_weights_md));
        dxm = memory(query(bwd_data_pd, dnnl_query_diff_src_md));
        CHECK(dnnl_primitive_create(&bwd_data, bwd_data_pd));
        dnnl_exec_arg_t dargs[] = {{DNNL_ARG_DIFF_DST, ddy}, {DNNL_ARG_WEIGHTS, dwei}, {DNNL_ARG_DIFF_SRC, dxm}};
        res.backward += timed(bwd_data, 3, dargs, runs);
        // diff_dst in the data primitive's layout is usually the weights primitive's too; counted once.
        if (!dnnl_memory_desc_equal(query(bwd_data_pd, dnnl_query_diff_dst_md), query(bwd_weights_pd, dnnl_query_diff_dst_md)))
            res.backward_reorders += reorder_time(&plain_dst, query(bwd_data_pd, dnnl_query_diff_dst_md), runs);
        res.backward_reorders += reorder_time(&plain_wei, query(bwd_data_pd, dnnl_query_weights_md), runs)
                               + reorder_time(query(bwd_data_pd, dnnl_query_diff_src_md), &plain_src, runs);
    }
    // The implementation names are owned by the descriptors: copy before destroying them.
    static char names[2][256];
    snprintf(names[0], sizeof names[0], "%s", res.fwd_impl);
    snprintf(names[1], sizeof names[1], "%s", res.bwd_impl);
    res.fwd_impl = names[0];
    res.bwd_impl = names[1];
    dnnl_memory_t all[] = {x, w, b, y, ws, bx, bdy, dw, db, ddy, dxm, dwei};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) if (all[i]) dnnl_memory_destroy(all[i]);
    dnnl_primitive_destroy(fwd);
    dnnl_primitive_destroy(bwd_weights);
    if (bwd_data) dnnl_primitive_destroy(bwd_data);
    dnnl_primitive_desc_destroy(fwd_pd);
    dnnl_primitive_desc_destroy(bwd_weights_pd);
    if (bwd_data_pd) dnnl_primitive_desc_destroy(bwd_data_pd);
    return res;
}

typedef struct { char name[32]; double forward, step; double ours_fwd, ours_bwd, dnnl_fwd, dnnl_bwd, fwd_reorders, bwd_reorders; } Network;

int main(int argc, char **argv) {
    const char *table = NULL, *layout = "plain";
    int runs = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--layout") && i + 1 < argc) layout = argv[++i];
        else table = argv[i];
    }
    if (!table || runs < 1 || runs > 64 || (strcmp(layout, "plain") && strcmp(layout, "blocked"))) {
        fprintf(stderr, "usage: dnnl_conv_bench TABLE.tsv [--runs 1..64] [--layout plain|blocked]\n");
        return 64;
    }
    FILE *f = fopen(table, "r");
    if (!f) { fprintf(stderr, "dnnl_conv_bench: %s: cannot open (run `lipsync-bench conv-layers` first)\n", table); return 66; }
    CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    const dnnl_version_t *v = dnnl_version();
    printf("oneDNN %d.%d.%d (%s), layout %s, runs %d, effective ISA code %d, OMP_NUM_THREADS=%s\n", v->major, v->minor, v->patch,
           v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other runtime", layout, runs, (int)dnnl_get_effective_cpu_isa(),
           getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "unset");
    printf("%-9s %-6s %5s  %-22s %-22s %9s %9s %9s %9s %9s %7s %7s  %s\n", "net", "kind", "count", "input", "kernel/stride/pad",
           "ours fwd", "dnnl fwd", "ours bwd", "dnnl bwd", "reorders", "fwd ×", "bwd ×", "oneDNN implementation (fwd | bwd weights)");
    Network nets[8];
    int nnets = 0;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "# network ", 10)) {
            Network *n = &nets[nnets++];
            memset(n, 0, sizeof *n);
            sscanf(line, "# network %31s forward_s %lf step_s %lf", n->name, &n->forward, &n->step);
            continue;
        }
        if (line[0] == '#' || !strncmp(line, "net\t", 4)) continue;
        Row r;
        if (sscanf(line, "%31s %15s %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %lf %lf", r.net, r.kind, &r.count, &r.n, &r.c,
                   &r.h, &r.w, &r.oc, &r.kh, &r.kw, &r.sh, &r.sw, &r.ph, &r.pw, &r.oph, &r.opw, &r.groups, &r.dx,
                   &r.ours_forward, &r.ours_backward) != 20) {
            fprintf(stderr, "dnnl_conv_bench: %s: unreadable row: %s", table, line);
            return 65;
        }
        Result m = measure(&r, !strcmp(layout, "blocked"), runs);
        char input[64], geometry[64];
        snprintf(input, sizeof input, "%dx%dx%dx%d->%d", r.n, r.c, r.h, r.w, r.oc);
        snprintf(geometry, sizeof geometry, "%dx%d/%d,%d/%d,%d%s", r.kh, r.kw, r.sh, r.sw, r.ph, r.pw, r.dx ? "" : " no dx");
        printf("%-9s %-6s %5d  %-22s %-22s %9.4f %9.4f %9.4f %9.4f %9.4f %7.2f %7.2f  %s | %s\n", r.net, r.kind, r.count, input,
               geometry, r.ours_forward, m.forward, r.ours_backward, m.backward, m.forward_reorders + m.backward_reorders,
               r.ours_forward / m.forward, r.ours_backward / m.backward, m.fwd_impl, m.bwd_impl);
        fflush(stdout);
        for (int i = 0; i < nnets; i++) {
            if (strcmp(nets[i].name, r.net)) continue;
            nets[i].ours_fwd += r.count * r.ours_forward;
            nets[i].ours_bwd += r.count * r.ours_backward;
            nets[i].dnnl_fwd += r.count * m.forward;
            nets[i].dnnl_bwd += r.count * m.backward;
            nets[i].fwd_reorders += r.count * m.forward_reorders;
            nets[i].bwd_reorders += r.count * m.backward_reorders;
        }
    }
    fclose(f);
    printf("\nPer network (seconds). 'With oneDNN' keeps everything but the convolutions as measured and swaps in the\n"
           "convolutions' sum; in the blocked layout, once with the kernels alone (an engine wholly in oneDNN's layouts)\n"
           "and once with the reorders to and from NCHW that a per-call backend pays:\n");
    for (int i = 0; i < nnets; i++) {
        Network *n = &nets[i];
        double ours = n->ours_fwd + n->ours_bwd, theirs = n->dnnl_fwd + n->dnnl_bwd;
        double fwd_with = n->forward - n->ours_fwd + n->dnnl_fwd;
        double step_with = n->step - ours + theirs;
        printf("%s: convolutions ours fwd %.3f + bwd %.3f, oneDNN fwd %.3f + bwd %.3f (ours / oneDNN %.2f); "
               "network forward %.3f -> %.3f with oneDNN (x%.2f), train step %.3f -> %.3f (x%.2f)\n",
               n->name, n->ours_fwd, n->ours_bwd, n->dnnl_fwd, n->dnnl_bwd, ours / theirs,
               n->forward, fwd_with, n->forward / fwd_with, n->step, step_with, n->step / step_with);
        if (n->fwd_reorders + n->bwd_reorders > 0) {
            double fr = fwd_with + n->fwd_reorders, sr = step_with + n->fwd_reorders + n->bwd_reorders;
            printf("%s with reorders (%.3f fwd + %.3f bwd): network forward %.3f (x%.2f), train step %.3f (x%.2f)\n", n->name,
                   n->fwd_reorders, n->bwd_reorders, fr, n->forward / fr, sr, n->step / sr);
        }
    }
    dnnl_stream_destroy(stream);
    dnnl_engine_destroy(engine);
    return 0;
}
