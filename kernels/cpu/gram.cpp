// Gram matrix reference kernels, the statistic of Gatys' style loss. Derivation: docs/backprop.md#gram.
#include "kernels/cpu/cpu_kernels.h"
#include <cstdint>

namespace nst::cpu {

template <class T> void gram_forward(const T* f, T* g, const GramShape& s) {
    // f is (N,C,HW); g is (N,C,C); g[n,i,j] = sum_p f[n,i,p] f[n,j,p] / (C*HW)
    const T scale = T(s.scale());
    for (int n = 0; n < s.N; ++n) {
        const T* F = f + int64_t(n) * s.C * s.HW;
        T* G = g + int64_t(n) * s.C * s.C;
        for (int i = 0; i < s.C; ++i)
            for (int j = 0; j <= i; ++j) {  // symmetric: compute one triangle, mirror it
                T acc = T(0);
                for (int64_t p = 0; p < s.HW; ++p) acc += F[i * s.HW + p] * F[j * s.HW + p];
                G[i * s.C + j] = G[j * s.C + i] = acc * scale;
            }
    }
}

template <class T> void gram_backward(const T* f, const T* dg, T* df, const GramShape& s) {
    // df[n,i,p] = sum_j (dg[n,i,j] + dg[n,j,i]) f[n,j,p] / (C*HW)
    const T scale = T(s.scale());
    for (int n = 0; n < s.N; ++n) {
        const T* F = f + int64_t(n) * s.C * s.HW;
        const T* dG = dg + int64_t(n) * s.C * s.C;
        T* dF = df + int64_t(n) * s.C * s.HW;
        for (int i = 0; i < s.C; ++i)
            for (int64_t p = 0; p < s.HW; ++p) {
                T acc = T(0);
                for (int j = 0; j < s.C; ++j) acc += (dG[i * s.C + j] + dG[j * s.C + i]) * F[j * s.HW + p];
                dF[i * s.HW + p] = acc * scale;
            }
    }
}

template void gram_forward<float>(const float*, float*, const GramShape&);
template void gram_forward<double>(const double*, double*, const GramShape&);
template void gram_backward<float>(const float*, const float*, float*, const GramShape&);
template void gram_backward<double>(const double*, const double*, double*, const GramShape&);

}  // namespace nst::cpu
