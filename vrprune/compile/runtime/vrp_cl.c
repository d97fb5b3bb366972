/* vrp_cl.c -- OpenCL actors of generated programs (see vrp_cl.h; the convention is that of
 * vrprune/exec/_opencl.py). Links against the OpenCL ICD loader (libOpenCL); the Khronos
 * headers it needs are shipped in runtime/CL/ (Apache-2.0).
 */
#define _GNU_SOURCE
#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include "vrp_cl.h"

#include <CL/cl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_PLATFORM "Portable Computing Language"

/* The ICD loader of the pyopencl wheel finds its bundled PoCL ICD through $PYOPENCL_HOME (and
 * crashes when it is unset); the Makefile bakes that folder in when it links that loader.
 * Other loaders ignore the variable. Set before main(), while the program is one thread. */
#ifdef VRP_PYOPENCL_HOME
__attribute__((constructor)) static void vrp_cl_env(void) {
    const char *h = getenv("PYOPENCL_HOME");
    if (!h || !h[0]) setenv("PYOPENCL_HOME", VRP_PYOPENCL_HOME, 1);
}
#endif

typedef struct {
    cl_context ctx;
    cl_command_queue queue;
    cl_program program;
    cl_kernel kernel, init;
    cl_mem *din, *dout, datr, state;
    cl_uint atr_arg;
} rt_t;

/* Platform discovery and program builds are serialised, as in the Python back-end. */
static pthread_mutex_t g_setup_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *cl_err(cl_int e) {
    switch (e) {
    case CL_DEVICE_NOT_FOUND: return "CL_DEVICE_NOT_FOUND";
    case CL_DEVICE_NOT_AVAILABLE: return "CL_DEVICE_NOT_AVAILABLE";
    case CL_MEM_OBJECT_ALLOCATION_FAILURE: return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
    case CL_OUT_OF_RESOURCES: return "CL_OUT_OF_RESOURCES";
    case CL_OUT_OF_HOST_MEMORY: return "CL_OUT_OF_HOST_MEMORY";
    case CL_BUILD_PROGRAM_FAILURE: return "CL_BUILD_PROGRAM_FAILURE";
    case CL_INVALID_VALUE: return "CL_INVALID_VALUE";
    case CL_INVALID_PLATFORM: return "CL_INVALID_PLATFORM";
    case CL_INVALID_DEVICE: return "CL_INVALID_DEVICE";
    case CL_INVALID_CONTEXT: return "CL_INVALID_CONTEXT";
    case CL_INVALID_COMMAND_QUEUE: return "CL_INVALID_COMMAND_QUEUE";
    case CL_INVALID_MEM_OBJECT: return "CL_INVALID_MEM_OBJECT";
    case CL_INVALID_BUILD_OPTIONS: return "CL_INVALID_BUILD_OPTIONS";
    case CL_INVALID_PROGRAM_EXECUTABLE: return "CL_INVALID_PROGRAM_EXECUTABLE";
    case CL_INVALID_KERNEL_NAME: return "CL_INVALID_KERNEL_NAME";
    case CL_INVALID_KERNEL: return "CL_INVALID_KERNEL";
    case CL_INVALID_ARG_INDEX: return "CL_INVALID_ARG_INDEX";
    case CL_INVALID_ARG_VALUE: return "CL_INVALID_ARG_VALUE";
    case CL_INVALID_ARG_SIZE: return "CL_INVALID_ARG_SIZE";
    case CL_INVALID_KERNEL_ARGS: return "CL_INVALID_KERNEL_ARGS";
    case CL_INVALID_WORK_DIMENSION: return "CL_INVALID_WORK_DIMENSION";
    case CL_INVALID_WORK_GROUP_SIZE: return "CL_INVALID_WORK_GROUP_SIZE";
    case CL_INVALID_GLOBAL_WORK_SIZE: return "CL_INVALID_GLOBAL_WORK_SIZE";
    case CL_INVALID_BUFFER_SIZE: return "CL_INVALID_BUFFER_SIZE";
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR (no OpenCL platform: is an ICD installed? see OCL_ICD_VENDORS)";
    default: return "OpenCL error";
    }
}

#define CHECK(call, what)                                                                             \
    do {                                                                                              \
        cl_int e_ = (call);                                                                           \
        if (e_ != CL_SUCCESS) {                                                                       \
            vrp_error("OpenCL actor '%s': %s failed: %s (%d)", a->actor, (what), cl_err(e_), (int)e_); \
            goto fail;                                                                                \
        }                                                                                             \
    } while (0)

static int has_kernel(cl_program p, const char *name) {
    size_t n = 0;
    if (clGetProgramInfo(p, CL_PROGRAM_KERNEL_NAMES, 0, NULL, &n) != CL_SUCCESS || !n) return 0;
    char *names = malloc(n + 1);
    if (!names) return 0;
    int found = 0;
    if (clGetProgramInfo(p, CL_PROGRAM_KERNEL_NAMES, n, names, NULL) == CL_SUCCESS) {
        names[n] = 0;
        size_t k = strlen(name);
        for (char *s = names; *s;) {
            char *semi = strchr(s, ';');
            size_t len = semi ? (size_t)(semi - s) : strlen(s);
            if (len == k && !strncmp(s, name, k)) { found = 1; break; }
            if (!semi) break;
            s = semi + 1;
        }
    }
    free(names);
    return found;
}

/* The device: the first platform whose name contains `want`, device `index` of it. */
static int find_device(vrp_cl_actor *a, cl_device_id *dev) {
    const char *want = a->platform;
    int index = a->device;
    if (!want) {
        want = getenv("VRPRUNE_CL_PLATFORM");
        if (!want || !want[0]) want = DEFAULT_PLATFORM;
    }
    if (index < 0) {
        const char *d = getenv("VRPRUNE_CL_DEVICE");
        index = d && d[0] ? atoi(d) : 0;
    }
    cl_uint np = 0;
    cl_int e = clGetPlatformIDs(0, NULL, &np);
    if (e != CL_SUCCESS || np == 0) {
        vrp_error("OpenCL actor '%s': no OpenCL platform available (%s); install an OpenCL driver (PoCL for the "
                  "CPU) and point the ICD loader at it (OCL_ICD_VENDORS)", a->actor, cl_err(e));
        return -1;
    }
    cl_platform_id ps[32];
    if (np > 32) np = 32;
    clGetPlatformIDs(np, ps, NULL);
    char names[1024] = "";
    for (cl_uint i = 0; i < np; i++) {
        char name[256] = "", lw[256], ww[256];
        clGetPlatformInfo(ps[i], CL_PLATFORM_NAME, sizeof name - 1, name, NULL);
        size_t j;
        for (j = 0; name[j] && j < sizeof lw - 1; j++) lw[j] = (char)(name[j] >= 'A' && name[j] <= 'Z' ? name[j] + 32 : name[j]);
        lw[j] = 0;
        for (j = 0; want[j] && j < sizeof ww - 1; j++) ww[j] = (char)(want[j] >= 'A' && want[j] <= 'Z' ? want[j] + 32 : want[j]);
        ww[j] = 0;
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s'%s'", i ? ", " : "", name);
        if (!strstr(lw, ww)) continue;
        cl_uint nd = 0;
        clGetDeviceIDs(ps[i], CL_DEVICE_TYPE_ALL, 0, NULL, &nd);
        if (index >= (int)nd) {
            vrp_error("OpenCL actor '%s': OpenCL platform '%s' has %u device(s); device %d asked for", a->actor, name,
                      nd, index);
            return -1;
        }
        cl_device_id ds[64];
        if (nd > 64) nd = 64;
        clGetDeviceIDs(ps[i], CL_DEVICE_TYPE_ALL, nd, ds, NULL);
        *dev = ds[index];
        return 0;
    }
    vrp_error("OpenCL actor '%s': no OpenCL platform whose name contains '%s' (found: %s); name one in the platform "
              "file or set VRPRUNE_CL_PLATFORM", a->actor, want, names);
    return -1;
}

static void release(rt_t *r, const vrp_cl_actor *a) {
    if (!r) return;
    if (r->queue) clFinish(r->queue);
    for (int i = 0; r->din && i < a->n_in; i++)
        if (r->din[i]) clReleaseMemObject(r->din[i]);
    for (int i = 0; r->dout && i < a->n_out; i++)
        if (r->dout[i]) clReleaseMemObject(r->dout[i]);
    if (r->datr) clReleaseMemObject(r->datr);
    if (r->state) clReleaseMemObject(r->state);
    if (r->init) clReleaseKernel(r->init);
    if (r->kernel) clReleaseKernel(r->kernel);
    if (r->program) clReleaseProgram(r->program);
    if (r->queue) clReleaseCommandQueue(r->queue);
    if (r->ctx) clReleaseContext(r->ctx);
    free(r->din);
    free(r->dout);
    free(r);
}

void *vrp_cl_init(vrp_cl_actor *a) {
    rt_t *r = calloc(1, sizeof *r);
    cl_int e;
    int locked = 0;
    if (!r) { vrp_error("OpenCL actor '%s': out of memory", a->actor); return NULL; }
    r->din = calloc((size_t)(a->n_in > 0 ? a->n_in : 1), sizeof(cl_mem));
    r->dout = calloc((size_t)(a->n_out > 0 ? a->n_out : 1), sizeof(cl_mem));
    if (!r->din || !r->dout) { vrp_error("OpenCL actor '%s': out of memory", a->actor); goto fail; }
    pthread_mutex_lock(&g_setup_mu);
    locked = 1;
    cl_device_id dev;
    if (find_device(a, &dev)) goto fail;
    r->ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &e);
    CHECK(e, "clCreateContext");
    r->queue = clCreateCommandQueue(r->ctx, dev, 0, &e);
    CHECK(e, "clCreateCommandQueue");
    const char *src = a->source;
    size_t len = strlen(src);
    r->program = clCreateProgramWithSource(r->ctx, 1, &src, &len, &e);
    CHECK(e, "clCreateProgramWithSource");
    e = clBuildProgram(r->program, 1, &dev, a->options, NULL, NULL);
    if (e != CL_SUCCESS) {
        size_t n = 0;
        clGetProgramBuildInfo(r->program, dev, CL_PROGRAM_BUILD_LOG, 0, NULL, &n);
        char *log = malloc(n + 1);
        if (log) {
            log[0] = 0;
            clGetProgramBuildInfo(r->program, dev, CL_PROGRAM_BUILD_LOG, n, log, NULL);
            log[n] = 0;
        }
        vrp_error("OpenCL actor '%s': building %s (options '%s') failed: %s (%d); build log:\n%s", a->actor, a->file,
                  a->options, cl_err(e), (int)e, log ? log : "");
        free(log);
        goto fail;
    }
    pthread_mutex_unlock(&g_setup_mu);
    locked = 0;
    if (!has_kernel(r->program, a->kernel)) {
        vrp_error("actor '%s': %s has no kernel '%s'", a->actor, a->file, a->kernel);
        goto fail;
    }
    r->kernel = clCreateKernel(r->program, a->kernel, &e);
    CHECK(e, "clCreateKernel");
    cl_uint arg = 0;
    for (int i = 0; i < a->n_in; i++) {
        r->din[i] = clCreateBuffer(r->ctx, CL_MEM_READ_ONLY, (size_t)a->in_max[i], NULL, &e);
        CHECK(e, "clCreateBuffer (input)");
        CHECK(clSetKernelArg(r->kernel, arg++, sizeof(cl_mem), &r->din[i]), "clSetKernelArg (input)");
    }
    for (int i = 0; i < a->n_out; i++) {
        r->dout[i] = clCreateBuffer(r->ctx, CL_MEM_READ_WRITE, (size_t)a->out_max[i], NULL, &e);
        CHECK(e, "clCreateBuffer (output)");
        CHECK(clSetKernelArg(r->kernel, arg++, sizeof(cl_mem), &r->dout[i]), "clSetKernelArg (output)");
    }
    if (a->atr_mode == VRP_CL_DA) {
        r->atr_arg = arg++;
    } else if (a->atr_mode == VRP_CL_CA) {
        r->datr = clCreateBuffer(r->ctx, CL_MEM_READ_WRITE, sizeof(cl_int), NULL, &e);
        CHECK(e, "clCreateBuffer (atr)");
        CHECK(clSetKernelArg(r->kernel, arg++, sizeof(cl_mem), &r->datr), "clSetKernelArg (atr)");
    }
    if (a->state_bytes > 0) {
        r->state = clCreateBuffer(r->ctx, CL_MEM_READ_WRITE, (size_t)a->state_bytes, NULL, &e);
        CHECK(e, "clCreateBuffer (state)");
        CHECK(clSetKernelArg(r->kernel, arg++, sizeof(cl_mem), &r->state), "clSetKernelArg (state)");
    }
    if (a->init_kernel) {
        if (a->state_bytes > 0 && has_kernel(r->program, a->init_kernel)) {
            r->init = clCreateKernel(r->program, a->init_kernel, &e);
            CHECK(e, "clCreateKernel (init)");
            CHECK(clSetKernelArg(r->init, 0, sizeof(cl_mem), &r->state), "clSetKernelArg (init)");
            size_t gs = (size_t)(a->state_bytes / 4);
            if (gs) CHECK(clEnqueueNDRangeKernel(r->queue, r->init, 1, NULL, &gs, NULL, 0, NULL, NULL), "init kernel");
            CHECK(clFinish(r->queue), "init kernel");
        } else if (a->init_required) {
            vrp_error("actor '%s': init kernel '%s' not found (or no `param state_bytes`)", a->actor, a->init_kernel);
            goto fail;
        }
    }
    a->rt = r;
    return a;
fail:
    if (locked) pthread_mutex_unlock(&g_setup_mu);
    release(r, a);
    return NULL;
}

int vrp_cl_fire(void *state, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    vrp_cl_actor *a = state;
    rt_t *r = a->rt;
    cl_command_queue q = r->queue;
    for (int i = 0; i < n_in; i++) {
        size_t n = (size_t)in[i].count * (size_t)in[i].token_bytes;
        if (n) CHECK(clEnqueueWriteBuffer(q, r->din[i], CL_FALSE, 0, n, in[i].data, 0, NULL, NULL), "writing an input");
    }
    cl_int preset = -1;
    if (a->atr_mode == VRP_CL_DA) {
        cl_int v = *atr >= 0 ? *atr : 0;
        CHECK(clSetKernelArg(r->kernel, r->atr_arg, sizeof v, &v), "clSetKernelArg (atr)");
    } else if (a->atr_mode == VRP_CL_CA) {
        CHECK(clEnqueueWriteBuffer(q, r->datr, CL_FALSE, 0, sizeof preset, &preset, 0, NULL, NULL), "presetting atr");
    }
    size_t gsize;
    if (a->global_size >= 0) gsize = (size_t)a->global_size;
    else if (n_out > 0) gsize = (size_t)out[0].count * (size_t)a->elems_per_token;
    else gsize = 1;
    if (gsize > 0) CHECK(clEnqueueNDRangeKernel(q, r->kernel, 1, NULL, &gsize, NULL, 0, NULL, NULL), "running the kernel");
    for (int i = 0; i < n_out; i++) {
        size_t n = (size_t)out[i].count * (size_t)out[i].token_bytes;
        if (n) CHECK(clEnqueueReadBuffer(q, r->dout[i], CL_FALSE, 0, n, out[i].data, 0, NULL, NULL), "reading an output");
    }
    if (a->atr_mode == VRP_CL_CA) {
        cl_int got = -1;
        CHECK(clEnqueueReadBuffer(q, r->datr, CL_TRUE, 0, sizeof got, &got, 0, NULL, NULL), "reading atr");
        if (got < 0) {
            clFinish(q);
            return vrp_error("configuration kernel %s did not write its atr", a->kernel);
        }
        *atr = got;
    }
    CHECK(clFinish(q), "clFinish");
    return VRP_OK;
fail:
    clFinish(q);
    return VRP_ERROR;
}

void vrp_cl_finish(void *state) {
    vrp_cl_actor *a = state;
    if (!a || !a->rt) return;
    release(a->rt, a);
    a->rt = NULL;
}
