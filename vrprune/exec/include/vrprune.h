/* vrprune.h -- the C actor API of vrprune.
 *
 * A C actor is one C file with up to three entry points, named in the .vpr file:
 *
 *     impl c "actors.c" { init = my_init, fire = my_fire, finish = my_finish }
 *
 * `fire` defaults to ACTOR_fire; when `init` / `finish` are not named, the
 * symbols ACTOR_init / ACTOR_finish are used if the file defines them.
 * vrprune compiles the file (with this header on the include path) into a
 * shared library, cached by the hash of source + headers + flags, and calls it
 * without holding Python's GIL: C actors run truly in parallel, one thread each.
 *
 *   void *init(const vrp_param *params, int n_params);
 *       Called once on the actor's thread before the first firing.  Returns the
 *       actor's state pointer (may be NULL for stateless actors), which every
 *       fire / finish receives.  To fail, call vrp_error(...) and return NULL.
 *
 *   int fire(void *state, const vrp_buf *in, int n_in,
 *            vrp_buf *out, int n_out, int32_t *atr);
 *       One firing.  in[i] / out[i] are the data ports in declaration order
 *       (control ports are not passed).  in[i].data holds in[i].count tokens of
 *       in[i].token_bytes bytes each, contiguous; out[i].data has room for
 *       exactly out[i].count tokens, which the actor must all write.
 *       count is the static rate, or the active token rate (atr) on variable
 *       ports; it may be 0 (a pruned branch), then data must not be touched.
 *       *atr: on entry, a DA/DPA's atr for this firing, -1 for other actors.
 *       A CA (configuration actor) writes its chosen atr into *atr.
 *       Returns VRP_OK, VRP_END (only a source, an actor without data inputs,
 *       may return it: the stream ends, nothing it wrote is sent), or an error:
 *       `return vrp_error("bad frame %d", n);` stops the run with that message.
 *       The buffers belong to the runtime's FIFOs: do not keep pointers to them
 *       across firings.
 *
 *   void finish(void *state);
 *       Called once after the last firing (also after an error in a firing;
 *       not when init failed): free state.
 *
 * Parameters: every `param NAME = VALUE` of the actor is passed to init; read
 * them with vrp_param_int / vrp_param_float / vrp_param_str below.
 */
#ifndef VRPRUNE_H
#define VRPRUNE_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VRP_OK 0     /* fire succeeded */
#define VRP_END 1    /* a source has no more tokens: end of stream */
#define VRP_ERROR -1 /* any value other than VRP_OK / VRP_END is an error */

/* The tokens of one port for one firing. */
/* cdef begin (vrprune's executor hands these declarations to cffi) */
typedef struct {
    void *data;          /* count * token_bytes bytes, contiguous */
    int32_t count;       /* number of tokens (static rate or atr) */
    int32_t token_bytes; /* bytes per token */
} vrp_buf;
/* cdef end */

#define VRP_PARAM_INT 0
#define VRP_PARAM_FLOAT 1
#define VRP_PARAM_STR 2

/* One `param NAME = VALUE` of the actor. */
typedef struct {
    const char *name;
    int32_t kind;  /* VRP_PARAM_INT / _FLOAT / _STR */
    int64_t i;     /* value if INT (also set, truncated, for FLOAT) */
    double f;      /* value if FLOAT (also set for INT) */
    const char *s; /* value if STR, else NULL */
} vrp_param;

typedef void *(*vrp_init_fn)(const vrp_param *params, int n_params);
/* cdef begin */
typedef int (*vrp_fire_fn)(void *state, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr);
/* cdef end */
typedef void (*vrp_finish_fn)(void *state);

static inline const vrp_param *vrp_param_find(const vrp_param *p, int n, const char *name) {
    for (int k = 0; k < n; k++)
        if (strcmp(p[k].name, name) == 0) return &p[k];
    return NULL;
}
static inline int64_t vrp_param_int(const vrp_param *p, int n, const char *name, int64_t dflt) {
    const vrp_param *q = vrp_param_find(p, n, name);
    return q && q->kind != VRP_PARAM_STR ? q->i : dflt;
}
static inline double vrp_param_float(const vrp_param *p, int n, const char *name, double dflt) {
    const vrp_param *q = vrp_param_find(p, n, name);
    return q && q->kind != VRP_PARAM_STR ? q->f : dflt;
}
static inline const char *vrp_param_str(const vrp_param *p, int n, const char *name, const char *dflt) {
    const vrp_param *q = vrp_param_find(p, n, name);
    return q && q->kind == VRP_PARAM_STR ? q->s : dflt;
}

/* Error messages: vrp_error(fmt, ...) formats a message into a per-thread
 * buffer and returns VRP_ERROR, so `return vrp_error("...", ...);` works in
 * fire.  In init, call it and return NULL.  vrprune reads the message with
 * vrp__last_error() on the same thread; the two functions below are exported
 * (weak, so several files including this header in one library link). */
#define VRP_ERROR_MAX 1024
__attribute__((weak, visibility("default"))) _Thread_local char vrp__errbuf[VRP_ERROR_MAX];

__attribute__((weak, visibility("default"), format(printf, 1, 2))) int vrp_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(vrp__errbuf, VRP_ERROR_MAX, fmt, ap);
    va_end(ap);
    if (!vrp__errbuf[0]) strcpy(vrp__errbuf, "error");
    return VRP_ERROR;
}
__attribute__((weak, visibility("default"))) const char *vrp__last_error(void) { return vrp__errbuf; }
__attribute__((weak, visibility("default"))) void vrp__clear_error(void) { vrp__errbuf[0] = 0; }

#ifdef __cplusplus
}
#endif
#endif /* VRPRUNE_H */
