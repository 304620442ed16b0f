// Elementwise CUDA kernels: one grid-stride loop template, one small functor per op.
// Scalars that come from earlier device work (the upstream gradient g of a loss) are read on the device,
// so a whole forward+backward needs no host round trip.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/for_each.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include <cstdint>

namespace nst::cuda {
namespace {

struct ReluF { const float* x; float* y; __device__ void operator()(long long i) const { y[i] = x[i] > 0.f ? x[i] : 0.f; } };
struct ReluBackF {
    const float *y, *dy; float* dx;
    __device__ void operator()(long long i) const { dx[i] = y[i] > 0.f ? dy[i] : 0.f; }
};
struct AddF { const float *a, *b; float* y; __device__ void operator()(long long i) const { y[i] = a[i] + b[i]; } };
struct SubF { const float *a, *b; float* y; __device__ void operator()(long long i) const { y[i] = a[i] - b[i]; } };
struct MulF { const float *a, *b; float* y; __device__ void operator()(long long i) const { y[i] = a[i] * b[i]; } };
struct ScaleF { const float* a; float s; float* y; __device__ void operator()(long long i) const { y[i] = s * a[i]; } };
struct FillScaledF { const float* g; float s; float* y; __device__ void operator()(long long i) const { y[i] = s * *g; } };
struct FillF { float v; float* y; __device__ void operator()(long long i) const { y[i] = v; } };
struct SumSqBackF {
    const float *x, *g; float* dx;
    __device__ void operator()(long long i) const { dx[i] = 2.f * *g * x[i]; }
};
struct MseBackF {
    const float *a, *b, *g; float inv_n; float* da;
    __device__ void operator()(long long i) const { da[i] = 2.f * *g * inv_n * (a[i] - b[i]); }
};
struct TvBackF {
    const float *x, *g; ImageShape s; float* dx;
    __device__ void operator()(long long i) const {
        const int j = int(i % s.W), r = int((i / s.W) % s.H);
        const float v = x[i];
        float acc = 0.f;
        if (j + 1 < s.W) acc -= x[i + 1] - v;
        if (j > 0) acc += v - x[i - 1];
        if (r + 1 < s.H) acc -= x[i + s.W] - v;
        if (r > 0) acc += v - x[i - s.W];
        dx[i] = 2.f * *g * acc;
    }
};
// One thread per window element i = (p, r, c) of small; its place in big.
struct WindowF {
    WindowShape s;
    __device__ long long big_index(long long i) const {
        const long long c = i % s.w, r = (i / s.w) % s.h, p = i / (s.w * s.h);
        return (p * s.H + s.y0 + r) * s.W + s.x0 + c;
    }
};
struct CropF : WindowF {
    const float* big; float* small;
    __device__ void operator()(long long i) const { small[i] = big[big_index(i)]; }
};
struct PasteF : WindowF {
    const float* small; float* big;
    __device__ void operator()(long long i) const { big[big_index(i)] = small[i]; }
};
struct AxpyF { float alpha; const float* x; float* y; __device__ void operator()(long long i) const { y[i] += alpha * x[i]; } };
struct ScalF { float alpha; float* x; __device__ void operator()(long long i) const { x[i] *= alpha; } };

}  // namespace

void relu_forward(const float* x, float* y, int64_t n) { for_each(n, ReluF{x, y}); }
void relu_backward(const float* y, const float* dy, float* dx, int64_t n) { for_each(n, ReluBackF{y, dy, dx}); }
void add(const float* a, const float* b, float* y, int64_t n) { for_each(n, AddF{a, b, y}); }
void sub(const float* a, const float* b, float* y, int64_t n) { for_each(n, SubF{a, b, y}); }
void mul(const float* a, const float* b, float* y, int64_t n) { for_each(n, MulF{a, b, y}); }
void scale(const float* a, float s, float* y, int64_t n) { for_each(n, ScaleF{a, s, y}); }
void fill_scaled(const float* g, float s, float* y, int64_t n) { for_each(n, FillScaledF{g, s, y}); }
void fill(float v, float* y, int64_t n) { for_each(n, FillF{v, y}); }
void sum_squares_backward(const float* x, const float* g, int64_t n, float* dx) { for_each(n, SumSqBackF{x, g, dx}); }
void mse_backward(const float* a, const float* b, const float* g, int64_t n, float* da) {
    for_each(n, MseBackF{a, b, g, 1.f / float(n), da});
}
void tv_backward(const float* x, const float* g, const ImageShape& s, float* dx) { for_each(s.size(), TvBackF{x, g, s, dx}); }
void crop_window(const float* big, const WindowShape& s, float* small) { for_each(s.size(), CropF{{s}, big, small}); }
void paste_window(const float* small, const WindowShape& s, float* big) { for_each(s.size(), PasteF{{s}, small, big}); }
void axpy(int64_t n, float alpha, const float* x, float* y) { for_each(n, AxpyF{alpha, x, y}); }
void scal(int64_t n, float alpha, float* x) { for_each(n, ScalF{alpha, x}); }

}  // namespace nst::cuda
