// Index arithmetic shared by CPU and CUDA kernels, checked exhaustively on the CPU against brute force
// (so a GPU-only kernel's indexing is tested even where no GPU is).
#include "kernels/shapes.h"
#include "tests/catch.h"

using namespace nst;

TEST_CASE("windows_containing matches brute force for every small pooling geometry", "[index]") {
    int geometries = 0;
    for (int H = 1; H <= 13; ++H)
        for (int R = 1; R <= 5; ++R)
            for (int stride = 1; stride <= 3; ++stride)
                for (int pad = 0; 2 * pad <= R; ++pad) {
                    if (H + 2 * pad < R) continue;
                    const int P = (H + 2 * pad - R) / stride + 1;
                    ++geometries;
                    for (int h = 0; h < H; ++h) {
                        int lo, hi;
                        windows_containing(h, R, stride, pad, P, lo, hi);
                        for (int p = 0; p < P; ++p) {
                            const bool contains = p * stride - pad <= h && h <= p * stride - pad + R - 1;
                            INFO("H " << H << " R " << R << " stride " << stride << " pad " << pad << " h " << h << " p " << p);
                            REQUIRE(contains == (lo <= p && p <= hi));
                        }
                    }
                }
    CHECK(geometries > 300);
}

TEST_CASE("output sizes follow floor((H + 2 pad - R) / stride) + 1", "[index]") {
    ConvShape c;
    c.H = 7; c.W = 5; c.R = 3; c.S = 2; c.stride_h = 2; c.stride_w = 1; c.pad_h = 1; c.pad_w = 0;
    CHECK(c.P() == 4);
    CHECK(c.Q() == 4);
    PoolShape p;
    p.H = 5; p.W = 4;
    CHECK(p.P() == 2);
    CHECK(p.Q() == 2);
}
