// A feed-forward style network over tiles with the whole picture's instance-norm statistics (contract in
// tiled_style_network.h).
#include "stylize/tiled_style_network.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/device.h"
#include "core/allocator.h"
#include "core/autograd.h"
#include "core/norm_stats.h"
#include "core/ops.h"

namespace nst {

namespace {

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

}  // namespace

int64_t tiled_halo(const StyleNetwork& net) {
    double reach = 0;
    try {
        reach = net.edge_reach();
    } catch (const Error& e) {
        throw Error(std::string("--tile-size: this ") + net.kind() + " network cannot be tiled: " + e.what());
    }
    return round_up(int64_t(std::ceil(reach)), net.multiple());
}

void check_tile_size(const StyleNetwork& net, int64_t tile) {
    if (tile < 64 || tile % net.multiple() != 0)
        throw Error("--tile-size " + std::to_string(tile) + ": with --model, use a multiple of " + std::to_string(net.multiple()) +
                    " (the network's), at least 64 (each tile also carries a halo of " + std::to_string(tiled_halo(net)) + " px a side)");
    tiled_halo(net);
}

double forward_bytes_per_pixel(const StyleNetwork& net) {
    const Device d = net.device();
    const int64_t side = round_up(128, net.multiple());
    const Tensor probe = Tensor::zeros({1, 3, side, side}, DType::F32, d);
    const bool cuda = d.kind == DeviceKind::CUDA;
    cuda_synchronize();
    const size_t before = cuda ? cuda_memory_stats().bytes_in_use : cpu_memory_stats().bytes_in_use;
    if (cuda) cuda_reset_peak();
    else cpu_reset_peak();
    {
        NoGradGuard no_grad;
        (void)net.forward_padded(probe);
    }
    cuda_synchronize();
    const size_t peak = cuda ? cuda_memory_stats().peak_bytes_in_use : cpu_memory_stats().peak_bytes_in_use;
    return double(peak > before ? peak - before : 0) / double(side * side);
}

int64_t automatic_tile_size(const StyleNetwork& net, int64_t W, int64_t H, size_t budget, double bytes_per_pixel) {
    const auto mib = [](double b) { return std::to_string(int64_t(b / double(1 << 20))) + " MiB"; };
    const int64_t m = net.multiple();
    const double whole = bytes_per_pixel * double(round_up(W, m)) * double(round_up(H, m));
    if (whole <= double(budget)) return 0;
    const std::string sizes = "at " + std::to_string(W) + "x" + std::to_string(H) + " one pass takes about " + mib(whole) + " of the " +
                              mib(double(budget)) + " it may use";
    int64_t halo = 0;
    try {
        halo = tiled_halo(net);
    } catch (const Error& e) {
        throw Error(sizes + ", and " + e.what() + ": use a smaller --image-size");
    }
    int64_t best = 0;
    for (int64_t t = round_up(64, m); t < std::max(W, H) + m; t += m)
        if (bytes_per_pixel * double(t + 2 * halo) * double(t + 2 * halo) <= double(budget)) best = t;
    if (best == 0) throw Error(sizes + ", and not even 64 px tiles (+" + std::to_string(halo) + " px halo) fit: use a smaller --image-size");
    return best;
}

Tensor apply_tiled(const StyleNetwork& net, const Tensor& x, int64_t tile, TiledRun* run) {
    const int64_t m = net.multiple(), halo = tiled_halo(net);
    if (tile <= 0 || tile % m != 0)
        throw Error("--tile-size " + std::to_string(tile) + ": must be a positive multiple of " + std::to_string(m));
    if (x.ndim() != 4 || x.dim(0) != 1 || x.dim(1) != 3) throw Error("apply_tiled: want a picture (1,3,H,W), got " + x.str());
    NoGradGuard no_grad;
    const int64_t H = x.dim(2), W = x.dim(3);
    const int pad_h = int((m - H % m) % m), pad_w = int((m - W % m) % m);
    if (pad_h >= H || pad_w >= W)
        throw Error("the picture (" + std::to_string(W) + "x" + std::to_string(H) + ") is too small for the network (at least " +
                    std::to_string(m) + "x" + std::to_string(m) + ")");
    Tensor img = x.cpu();
    if (pad_h || pad_w) img = reflection_pad2d(img, 0, pad_h, 0, pad_w);
    const int64_t Hp = img.dim(2), Wp = img.dim(3);

    struct Tile {
        int64_t y0, x0, h, w;  // extent in the padded picture
        NormStatsPlan::Window interior;
    };
    std::vector<Tile> tiles;
    for (int64_t ty = 0; ty < Hp; ty += tile)
        for (int64_t tx = 0; tx < Wp; tx += tile) {
            const int64_t ih = std::min(tile, Hp - ty), iw = std::min(tile, Wp - tx);
            const int64_t y0 = std::max<int64_t>(0, ty - halo), x0 = std::max<int64_t>(0, tx - halo);
            const int64_t y1 = std::min(Hp, ty + ih + halo), x1 = std::min(Wp, tx + iw + halo);
            tiles.push_back({y0, x0, y1 - y0, x1 - x0, {y1 - y0, x1 - x0, ty - y0, tx - x0, ih, iw}});
        }

    Tensor out = Tensor::empty({1, 3, Hp, Wp});
    std::vector<NormStats> stats;  // norms 0..k-1, the whole picture's
    for (int k = 0;; ++k) {
        if (k > 100000) throw Error("apply_tiled: the network never stops normalising");
        NormSums sums;
        int stopped = 0;
        for (const Tile& t : tiles) {
            const Tensor in = crop2d(img, t.y0, t.x0, t.h, t.w).to(net.device());
            Tensor y;
            bool stop = false;
            {
                NormStatsPlan plan(&stats, &sums, t.interior);
                try {
                    y = net.forward_padded(in);
                } catch (const NormStatsPlan::Stop&) {
                    stop = true;
                }
                if (!stop && plan.count() != k)
                    throw Error("apply_tiled: a tile's pass ran " + std::to_string(plan.count()) + " instance norms, the plan " +
                                std::to_string(k));
            }
            if (stop) {
                ++stopped;
                continue;
            }
            if (stopped) throw Error("apply_tiled: the tiles' passes disagree on the number of instance norms");
            const NormStatsPlan::Window& i = t.interior;
            paste2d(out, crop2d(y, i.y0, i.x0, i.h, i.w).cpu(), t.y0 + i.y0, t.x0 + i.x0);
        }
        if (stopped == 0) {
            if (run) *run = {tile, halo, int(tiles.size()), k, k + 1};
            break;
        }
        if (stopped != int(tiles.size())) throw Error("apply_tiled: the tiles' passes disagree on the number of instance norms");
        NormStats s;
        for (size_t p = 0; p < sums.sum.size(); ++p) {
            const double mean = sums.sum[p] / sums.count;
            const double var = std::max(0.0, sums.sumsq[p] / sums.count - mean * mean);  // biased, as the op
            s.mean.push_back(mean);
            s.invstd.push_back(1.0 / std::sqrt(var + sums.eps));
        }
        stats.push_back(std::move(s));
    }
    if (pad_h || pad_w) out = crop2d(out, 0, 0, H, W);
    return out;
}

}  // namespace nst
