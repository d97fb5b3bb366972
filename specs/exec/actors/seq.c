/* C twins of actors/seq.py for the executor's tests: int64 sequence numbers. */
#include "vrprune.h"

typedef struct { int64_t next, stop, fired, at; } st_t;

void *seq_init(const vrp_param *p, int n) {
    st_t *s = calloc(1, sizeof *s);
    s->stop = vrp_param_int(p, n, "stop", -1);
    s->at = vrp_param_int(p, n, "at", -1);
    return s;
}
void seq_finish(void *s) { free(s); }

int src_fire(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    st_t *s = st;
    if (s->fired == s->stop) return VRP_END;
    s->fired++;
    int64_t *o = out[0].data;
    for (int i = 0; i < out[0].count; i++) o[i] = s->next++;
    return VRP_OK;
}

/* copies; fails in firing `at` (1-based) when at >= 0 */
int copy_fire(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    st_t *s = st;
    if (++s->fired == s->at) return vrp_error("bad token %lld", (long long)((int64_t *)in[0].data)[0]);
    memcpy(out[0].data, in[0].data, (size_t)in[0].count * in[0].token_bytes);
    return VRP_OK;
}

/* checks the sequence: fails on the first gap */
int check_fire(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    st_t *s = st;
    const int64_t *x = in[0].data;
    for (int i = 0; i < in[0].count; i++)
        if (x[i] != s->next++) return vrp_error("expected %lld, got %lld", (long long)s->next - 1, (long long)x[i]);
    return VRP_OK;
}
