// Elementwise reference kernels: arithmetic, ReLU, the backward passes of the scalar losses, BLAS-1
// updates. Derivations: docs/backprop.md.
#include "kernels/cpu/cpu_kernels.h"
#include <cstdint>

namespace nst::cpu {

template <class T> void relu_forward(const T* x, T* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
}
template <class T> void relu_backward(const T* y, const T* dy, T* dx, int64_t n) {
    // y > 0 exactly where x > 0; the kink at 0 gets gradient 0 (a subgradient). dy is read whatever the
    // mask says, so the compiler can turn the choice into a vector select (a conditional read it cannot).
    for (int64_t i = 0; i < n; ++i) {
        const T g = dy[i];
        dx[i] = y[i] > T(0) ? g : T(0);
    }
}

template <class T> void add(const T* a, const T* b, T* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}
template <class T> void sub(const T* a, const T* b, T* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = a[i] - b[i];
}
template <class T> void mul(const T* a, const T* b, T* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
}
template <class T> void scale(const T* a, T s, T* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = s * a[i];
}
template <class T> void fill_scaled(const T* g, T s, T* y, int64_t n) {
    const T v = s * *g;
    for (int64_t i = 0; i < n; ++i) y[i] = v;
}
template <class T> void fill(T v, T* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = v;
}
template <class T> void sum_squares_backward(const T* x, const T* g, int64_t n, T* dx) {
    const T c = T(2) * *g;
    for (int64_t i = 0; i < n; ++i) dx[i] = c * x[i];
}
template <class T> void mse_backward(const T* a, const T* b, const T* g, int64_t n, T* da) {
    const T c = T(2) * *g / T(n);
    for (int64_t i = 0; i < n; ++i) da[i] = c * (a[i] - b[i]);
}
template <class T> void crop_window(const T* big, const WindowShape& s, T* small) {
    for (int64_t p = 0; p < s.planes; ++p)
        for (int64_t i = 0; i < s.h; ++i)
            for (int64_t j = 0; j < s.w; ++j) small[(p * s.h + i) * s.w + j] = big[(p * s.H + s.y0 + i) * s.W + s.x0 + j];
}
template <class T> void paste_window(const T* small, const WindowShape& s, T* big) {
    for (int64_t p = 0; p < s.planes; ++p)
        for (int64_t i = 0; i < s.h; ++i)
            for (int64_t j = 0; j < s.w; ++j) big[(p * s.H + s.y0 + i) * s.W + s.x0 + j] = small[(p * s.h + i) * s.w + j];
}
template <class T> void tv_backward(const T* x, const T* g, const ImageShape& s, T* dx) {
    // d/dx[i][j] of (x[i][j+1]-x[i][j])^2 summed: -2 dh(i,j) + 2 dh(i,j-1); same vertically.
    const T c = T(2) * *g;
    for (int64_t nc = 0; nc < int64_t(s.N) * s.C; ++nc) {
        const T* X = x + nc * s.H * s.W;
        T* D = dx + nc * s.H * s.W;
        for (int i = 0; i < s.H; ++i)
            for (int j = 0; j < s.W; ++j) {
                const T v = X[i * s.W + j];
                T acc = T(0);
                if (j + 1 < s.W) acc -= X[i * s.W + j + 1] - v;
                if (j > 0) acc += v - X[i * s.W + j - 1];
                if (i + 1 < s.H) acc -= X[(i + 1) * s.W + j] - v;
                if (i > 0) acc += v - X[(i - 1) * s.W + j];
                D[i * s.W + j] = c * acc;
            }
    }
}
template <class T> void axpy(int64_t n, T alpha, const T* x, T* y) {
    for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}
template <class T> void scal(int64_t n, T alpha, T* x) {
    for (int64_t i = 0; i < n; ++i) x[i] *= alpha;
}

#define NST_INSTANTIATE(T)                                                              \
    template void relu_forward<T>(const T*, T*, int64_t);                              \
    template void relu_backward<T>(const T*, const T*, T*, int64_t);                   \
    template void add<T>(const T*, const T*, T*, int64_t);                             \
    template void sub<T>(const T*, const T*, T*, int64_t);                             \
    template void mul<T>(const T*, const T*, T*, int64_t);                             \
    template void scale<T>(const T*, T, T*, int64_t);                                  \
    template void fill_scaled<T>(const T*, T, T*, int64_t);                            \
    template void fill<T>(T, T*, int64_t);                                             \
    template void sum_squares_backward<T>(const T*, const T*, int64_t, T*);            \
    template void mse_backward<T>(const T*, const T*, const T*, int64_t, T*);          \
    template void tv_backward<T>(const T*, const T*, const ImageShape&, T*);           \
    template void crop_window<T>(const T*, const WindowShape&, T*);                    \
    template void paste_window<T>(const T*, const WindowShape&, T*);                   \
    template void axpy<T>(int64_t, T, const T*, T*);                                   \
    template void scal<T>(int64_t, T, T*);
NST_INSTANTIATE(float)
NST_INSTANTIATE(double)

}  // namespace nst::cpu
