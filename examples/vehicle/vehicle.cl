/* OpenCL actors of the vehicle classifier (vehicle_cl.vpr).
 * Kernel convention (vrprune/exec/_opencl.py): inputs, outputs, then the persistent state
 * buffer (`param state_bytes`), filled once by KERNEL_init from the PRNG of reference.py.
 * The actor's integer params arrive as macros: hw, cin, cout, layer, wseed. */

inline ulong splitmix64(ulong x) {
    ulong z = x + 0x9E3779B97F4A7C15UL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
    return z ^ (z >> 31);
}
inline ulong prng_key(ulong seed, ulong stream) { return splitmix64(seed * 4294967296UL + stream); }
inline float sym(ulong k, ulong i, float scale) {
    float u = (float)(splitmix64(k + i) >> 40) * (1.0f / 16777216.0f);
    return (2.0f * u - 1.0f) * scale;
}
#define BIAS_SCALE 0.05f
#define HE(fan_in) sqrt(6.0f / (float)(fan_in))

/* ------------------------------------------------------------ conv 5x5 same + ReLU + 2x2 max-pool
 * state: W[5][5][cin][cout] then b[cout]; one work item per pooled pixel and group of 8
 * output channels (float8 along cout): global size (hw/2)^2 * cout/8. */
#ifdef cin
#define NW (25 * cin * cout)
__kernel void conv_pool_init(__global float *state) {
    size_t i = get_global_id(0);
    if (i < NW) state[i] = sym(prng_key(wseed, 2 * layer - 1), i, HE(25 * cin));
    else if (i < NW + cout) state[i] = sym(prng_key(wseed, 2 * layer), i - NW, BIAS_SCALE);
}

__kernel void conv_pool(__global const float *x, __global float *y, __global const float *state) {
    const int oh = hw / 2, G = cout / 8;
    size_t g = get_global_id(0);
    int og = g % G, px = (g / G) % oh, py = g / (G * oh);
    __global const float *w = state + og * 8, *b = state + 25 * cin * cout + og * 8;
    float8 best = (float8)(-INFINITY);
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            int yy = 2 * py + dy, xx = 2 * px + dx;
            float8 acc = vload8(0, b);
            for (int ky = 0; ky < 5; ky++) {
                int iy = yy + ky - 2;
                if (iy < 0 || iy >= hw) continue;
                for (int kx = 0; kx < 5; kx++) {
                    int ix = xx + kx - 2;
                    if (ix < 0 || ix >= hw) continue;
                    __global const float *src = x + (iy * hw + ix) * cin;
                    __global const float *wk = w + ((ky * 5 + kx) * cin) * cout;
                    for (int c = 0; c < cin; c++) acc += src[c] * vload8(0, wk + c * cout);
                }
            }
            best = fmax(best, acc);
        }
    vstore8(fmax(best, (float8)(0.0f)), 0, y + ((size_t)py * oh + px) * cout + og * 8);
}
#endif

/* ------------------------------------------------------------ L3 dense nin -> nout + ReLU
 * state: W[nin][nout] then b[nout]; one work item per output. */
#ifdef nin
__kernel void dense_init(__global float *state) {
    size_t i = get_global_id(0);
    if (i < nin * nout) state[i] = sym(prng_key(wseed, wid), i, HE(nin));
    else if (i < nin * nout + nout) state[i] = sym(prng_key(wseed, wid + 1), i - nin * nout, BIAS_SCALE);
}

__kernel void dense(__global const float *x, __global float *y, __global const float *state) {
    size_t o = get_global_id(0);
    __global const float *w = state;
    float acc = state[nin * nout + o];
    for (int i = 0; i < nin; i++) acc += x[i] * w[i * nout + o];
    y[o] = fmax(acc, 0.0f);
}
#endif

/* ------------------------------------------------------------ L4-L5 head (global size 1)
 * state: W4[100][100], b4[100], W5[100][4], b5[4]. */
#define H_W4 0
#define H_B4 10000
#define H_W5 10100
#define H_B5 10500
#define H_END 10504
__kernel void head_init(__global float *state) {
    size_t i = get_global_id(0);
    if (i < H_B4) state[i] = sym(prng_key(wseed, 7), i - H_W4, HE(100));
    else if (i < H_W5) state[i] = sym(prng_key(wseed, 8), i - H_B4, BIAS_SCALE);
    else if (i < H_B5) state[i] = sym(prng_key(wseed, 9), i - H_W5, HE(100));
    else if (i < H_END) state[i] = sym(prng_key(wseed, 10), i - H_B5, BIAS_SCALE);
}

__kernel void head(__global const float *x, __global float *p, __global const float *state) {
    float h[100], z[4];
    for (int o = 0; o < 100; o++) h[o] = state[H_B4 + o];
    for (int i = 0; i < 100; i++)
        for (int o = 0; o < 100; o++) h[o] += x[i] * state[H_W4 + i * 100 + o];
    for (int o = 0; o < 4; o++) z[o] = state[H_B5 + o];
    for (int i = 0; i < 100; i++) {
        float v = fmax(h[i], 0.0f);
        for (int o = 0; o < 4; o++) z[o] += v * state[H_W5 + i * 4 + o];
    }
    float m = fmax(fmax(z[0], z[1]), fmax(z[2], z[3])), s = 0.0f;
    for (int o = 0; o < 4; o++) s += (z[o] = exp(z[o] - m));
    for (int o = 0; o < 4; o++) p[o] = z[o] / s;
}
