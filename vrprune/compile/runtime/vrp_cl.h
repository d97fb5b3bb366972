/* vrp_cl.h -- OpenCL actors of generated programs, with exactly the kernel convention of
 * vrprune's Python executor (vrprune/exec/_opencl.py); the same .cl source, unchanged.
 *
 *   kernel arguments: one __global const buffer per data input (declaration order), one
 *   __global buffer per data output, then `int atr` (DA/DPA) or `__global int *atr` (CA, one
 *   int preset to -1; the kernel writes its chosen atr), then the persistent state buffer of
 *   `param state_bytes` bytes when given;
 *   build options: -D NAME=V for every integer or float parameter (floats as Python's repr + f);
 *   NDRange: `param global_size`, else the elements of the first output in this firing
 *   (count x token elements), else 1; a global size of 0 launches nothing;
 *   state: `param init_kernel` (default KERNEL_init, optional) runs once in init over
 *   state_bytes / 4 work items with the state buffer as its only argument.
 *
 * Device: the mapping's OpenCL unit (platform name substring, device index), else
 * $VRPRUNE_CL_PLATFORM (default "Portable Computing Language", PoCL) and $VRPRUNE_CL_DEVICE.
 * Each actor owns its context, queue, program, kernels and buffers. A firing copies its input
 * windows host -> device, runs the kernel and copies the outputs back (blocking).
 */
#ifndef VRP_CL_H
#define VRP_CL_H

#include <stdint.h>

#include "vrprune.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { VRP_CL_SDF = 0, VRP_CL_DA = 1, VRP_CL_CA = 2 }; /* how the kernel gets its atr */

typedef struct vrp_cl_actor {
    /* set by the generated program */
    const char *actor;          /* the user's actor name */
    const char *file;           /* the .cl file (for messages) */
    const char *source;         /* its text, unchanged */
    const char *kernel;         /* kernel name */
    const char *init_kernel;    /* state initialiser (NULL: none) */
    int32_t init_required;      /* 1: `param init_kernel` named it, so it must exist */
    const char *options;        /* clBuildProgram options: the -D defines */
    const char *platform;       /* platform name substring, or NULL: $VRPRUNE_CL_PLATFORM / PoCL */
    int32_t device;             /* device index, or -1: $VRPRUNE_CL_DEVICE / 0 */
    int32_t atr_mode;           /* VRP_CL_SDF, VRP_CL_DA or VRP_CL_CA */
    int32_t n_in, n_out;        /* data ports */
    const int64_t *in_max, *out_max; /* bytes of the largest window (upper rate bound) per port */
    int64_t state_bytes;        /* 0: no state buffer */
    int64_t global_size;        /* `param global_size`, or -1 */
    int64_t elems_per_token;    /* elements of one token of the first output (0: no outputs) */
    /* run time (vrp_cl.c) */
    void *rt;
} vrp_cl_actor;

/* Actor entry points: init builds the program and allocates the buffers on the actor's
 * thread (NULL and vrp_error() on failure), fire runs one firing, finish releases. */
void *vrp_cl_init(vrp_cl_actor *a);
int vrp_cl_fire(void *state, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr);
void vrp_cl_finish(void *state);

#ifdef __cplusplus
}
#endif
#endif /* VRP_CL_H */
