/* C actors of the vehicle classifier (vehicle_c.vpr, and Input/Output of vehicle_cl.vpr).
 * Weights and frames come from the PRNG described in reference.py, bit for bit. */
#include "vrprune.h"

#include <math.h>
#include <stdlib.h>

/* ---------------------------------------------------------------- PRNG (see reference.py) */
static inline uint64_t splitmix64(uint64_t x) {
    uint64_t z = x + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static inline uint64_t key(uint64_t seed, uint64_t stream) { return splitmix64(seed * 4294967296ull + stream); }
static inline float uniform(uint64_t k, uint64_t i) { return (float)(splitmix64(k + i) >> 40) * (1.0f / 16777216.0f); }
static void fill_sym(float *dst, size_t n, uint64_t k, float scale) {
    for (size_t i = 0; i < n; i++) dst[i] = (2.0f * uniform(k, i) - 1.0f) * scale;
}
static float he(int fan_in) { return (float)sqrt(6.0 / fan_in); }
#define BIAS_SCALE 0.05f

/* ---------------------------------------------------------------- Input */
typedef struct { int64_t seed, frames, f; } input_t;

void *input_init(const vrp_param *p, int n) {
    input_t *s = calloc(1, sizeof *s);
    s->seed = vrp_param_int(p, n, "seed", 7);
    s->frames = vrp_param_int(p, n, "frames", 8);
    return s;
}
int input_fire(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    input_t *s = st;
    if (s->f >= s->frames) return VRP_END;
    if (out[0].token_bytes != 96 * 96 * 3 * 4) return vrp_error("Input: token must be f32[96,96,3]");
    float *img = out[0].data;
    int64_t f = s->f++;
    uint64_t k = key(s->seed, 1000 + f);
    for (int y = 0; y < 96; y++)
        for (int x = 0; x < 96; x++)
            for (int c = 0; c < 3; c++) {
                int i = (y * 96 + x) * 3 + c;
                float pat = (float)((x * (f + 1) + 3 * y * (c + 1) + 7 * f) % 32) / 32.0f;
                img[i] = 0.5f * uniform(k, i) + 0.5f * pat;
            }
    return VRP_OK;
}
void input_finish(void *st) { free(st); }

/* ---------------------------------------------------------------- conv 5x5 + ReLU + pool */
typedef struct {
    int hw, cin, cout;
    float *w, *b, *pad, *rows; /* w[ky][kx][cin][cout]; pad (hw+4)^2*cin; rows 2*hw*cout */
} conv_t;

void conv_finish(void *st) {
    conv_t *s = st;
    if (!s) return;
    free(s->w); free(s->b); free(s->pad); free(s->rows); free(s);
}
void *conv_init(const vrp_param *p, int n) {
    conv_t *s = calloc(1, sizeof *s);
    int layer = (int)vrp_param_int(p, n, "layer", 1);
    uint64_t wseed = (uint64_t)vrp_param_int(p, n, "wseed", 1);
    s->hw = (int)vrp_param_int(p, n, "hw", 96);
    s->cin = (int)vrp_param_int(p, n, "cin", 3);
    s->cout = (int)vrp_param_int(p, n, "cout", 32);
    if (s->cout != 32) { vrp_error("conv: cout must be 32 (got %d)", s->cout); free(s); return NULL; }
    size_t nw = (size_t)25 * s->cin * s->cout;
    s->w = malloc(nw * sizeof(float));
    s->b = malloc(s->cout * sizeof(float));
    s->pad = calloc((size_t)(s->hw + 4) * (s->hw + 4) * s->cin, sizeof(float));
    s->rows = malloc((size_t)2 * s->hw * s->cout * sizeof(float));
    fill_sym(s->w, nw, key(wseed, 2 * layer - 1), he(25 * s->cin));
    fill_sym(s->b, s->cout, key(wseed, 2 * layer), BIAS_SCALE);
    return s;
}
int conv_fire(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    conv_t *s = st;
    const int hw = s->hw, cin = s->cin, pw = hw + 4, oh = hw / 2;
    enum { CO = 32 };
    if (in[0].token_bytes != hw * hw * cin * 4 || out[0].token_bytes != oh * oh * CO * 4)
        return vrp_error("conv: token sizes do not match hw=%d cin=%d", hw, cin);
    const float *x = in[0].data;
    float *y = out[0].data;
    for (int r = 0; r < hw; r++) memcpy(s->pad + ((size_t)(r + 2) * pw + 2) * cin, x + (size_t)r * hw * cin, (size_t)hw * cin * sizeof(float));
    const float *w = s->w;
    for (int py = 0; py < oh; py++) {
        for (int dy = 0; dy < 2; dy++) {
            int yy = 2 * py + dy;
            for (int xx = 0; xx < hw; xx++) {
                float acc[CO];
                for (int o = 0; o < CO; o++) acc[o] = s->b[o];
                for (int ky = 0; ky < 5; ky++) {
                    const float *src = s->pad + ((size_t)(yy + ky) * pw + xx) * cin; /* 5*cin contiguous */
                    const float *wk = w + (size_t)ky * 5 * cin * CO;
                    for (int j = 0; j < 5 * cin; j++) {
                        float v = src[j];
                        const float *wr = wk + (size_t)j * CO;
                        for (int o = 0; o < CO; o++) acc[o] += v * wr[o];
                    }
                }
                memcpy(s->rows + ((size_t)dy * hw + xx) * CO, acc, sizeof acc);
            }
        }
        for (int px = 0; px < oh; px++) {
            const float *a = s->rows + (size_t)(2 * px) * CO, *b = a + CO, *c = a + (size_t)hw * CO, *d = c + CO;
            float *o_ = y + ((size_t)py * oh + px) * CO;
            for (int o = 0; o < CO; o++) {
                float m = fmaxf(fmaxf(a[o], b[o]), fmaxf(c[o], d[o]));
                o_[o] = m > 0.0f ? m : 0.0f;
            }
        }
    }
    return VRP_OK;
}

/* ---------------------------------------------------------------- dense 18432 -> 100 + ReLU */
typedef struct { int nin, nout; float *w, *b, *acc; } dense_t;

static void dense_free(dense_t *s) { if (s) { free(s->w); free(s->b); free(s->acc); free(s); } }
static dense_t *dense_new(int nin, int nout, uint64_t wseed, int wid) {
    dense_t *s = calloc(1, sizeof *s);
    s->nin = nin; s->nout = nout;
    s->w = malloc((size_t)nin * nout * sizeof(float));
    s->b = malloc((size_t)nout * sizeof(float));
    s->acc = malloc((size_t)nout * sizeof(float));
    fill_sym(s->w, (size_t)nin * nout, key(wseed, wid), he(nin));
    fill_sym(s->b, nout, key(wseed, wid + 1), BIAS_SCALE);
    return s;
}
/* y = x W + b (W row-major [nin][nout]); the inner loop over outputs vectorises */
static void dense_apply(const dense_t *s, const float *x, float *y, int relu) {
    float *acc = s->acc;
    for (int o = 0; o < s->nout; o++) acc[o] = s->b[o];
    for (int i = 0; i < s->nin; i++) {
        float v = x[i];
        const float *wr = s->w + (size_t)i * s->nout;
        for (int o = 0; o < s->nout; o++) acc[o] += v * wr[o];
    }
    for (int o = 0; o < s->nout; o++) y[o] = relu && acc[o] < 0.0f ? 0.0f : acc[o];
}

void *dense_init(const vrp_param *p, int n) {
    return dense_new((int)vrp_param_int(p, n, "nin", 18432), (int)vrp_param_int(p, n, "nout", 100),
                     (uint64_t)vrp_param_int(p, n, "wseed", 1), (int)vrp_param_int(p, n, "wid", 5));
}
int dense_fire(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    dense_t *s = st;
    if (in[0].token_bytes != s->nin * 4 || out[0].token_bytes != s->nout * 4) return vrp_error("dense: token sizes");
    dense_apply(s, in[0].data, out[0].data, 1);
    return VRP_OK;
}
void dense_finish(void *st) { dense_free(st); }

/* ---------------------------------------------------------------- L4-L5 head: 100->100 ReLU, 100->4 softmax */
typedef struct { dense_t *l4, *l5; float h[100]; } head_t;

void *head_init(const vrp_param *p, int n) {
    head_t *s = calloc(1, sizeof *s);
    uint64_t wseed = (uint64_t)vrp_param_int(p, n, "wseed", 1);
    s->l4 = dense_new(100, 100, wseed, 7);
    s->l5 = dense_new(100, 4, wseed, 9);
    return s;
}
int head_fire(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    head_t *s = st;
    float *y = out[0].data, m = -INFINITY, sum = 0.0f;
    dense_apply(s->l4, in[0].data, s->h, 1);
    dense_apply(s->l5, s->h, y, 0);
    for (int o = 0; o < 4; o++) m = fmaxf(m, y[o]);
    for (int o = 0; o < 4; o++) sum += (y[o] = expf(y[o] - m));
    for (int o = 0; o < 4; o++) y[o] /= sum;
    return VRP_OK;
}
void head_finish(void *st) {
    head_t *s = st;
    if (s) { dense_free(s->l4); dense_free(s->l5); free(s); }
}

/* ---------------------------------------------------------------- Output: append f32[4] per frame to `path`;
 * with `show`, also print one line per frame (as vehicle_np.py's Output does) */
typedef struct { FILE *f; int64_t show, frame; } output_t;

void *output_init(const vrp_param *p, int n) {
    const char *path = vrp_param_str(p, n, "path", "vehicle_probs.f32");
    output_t *s = calloc(1, sizeof *s);
    s->show = vrp_param_int(p, n, "show", 0);
    s->f = fopen(path, "wb");
    if (!s->f) { vrp_error("Output: cannot open %s for writing", path); free(s); return NULL; }
    return s;
}
int output_fire(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    output_t *s = st;
    if (fwrite(in[0].data, (size_t)in[0].token_bytes, (size_t)in[0].count, s->f) != (size_t)in[0].count)
        return vrp_error("Output: write failed");
    fflush(s->f);
    for (int t = 0; s->show && t < in[0].count; t++) {
        const float *q = (const float *)in[0].data + 4 * t;
        int k = 0;
        for (int c = 1; c < 4; c++) if (q[c] > q[k]) k = c;
        printf("frame %lld: class %d (p = %.3f; all %.3f %.3f %.3f %.3f)\n", (long long)s->frame++, k, q[k],
               q[0], q[1], q[2], q[3]);
        fflush(stdout);
    }
    return VRP_OK;
}
void output_finish(void *st) {
    output_t *s = st;
    if (s) { if (s->f) fclose(s->f); free(s); }
}
