// The tiled objective (contract in tiled_objective.h; derivation in docs/nst.md, "Tiles").
#include "nst/tiled_objective.h"

#include <algorithm>
#include <array>

#include "core/autograd.h"

namespace nst {

namespace {

// Tile t's owned positions at a layer, in the tile's feature coordinates: {y, x, h, w}; h or w is 0 when
// the tile owns no whole position there.
std::array<int64_t, 4> owned_window(const TileGrid::Tile& t, int64_t stride) {
    const int64_t y = (t.y0 - t.iy0) / stride, x = (t.x0 - t.ix0) / stride;
    const int64_t h = (t.y0 + t.h) / stride - t.y0 / stride, w = (t.x0 + t.w) / stride - t.x0 / stride;
    return {y, x, h, w};
}

// f's owned positions of tile t at a layer, or undefined when it owns none there.
Tensor owned(const Tensor& f, const TileGrid::Tile& t, int64_t stride) {
    const auto [y, x, h, w] = owned_window(t, stride);
    if (h <= 0 || w <= 0) return Tensor();
    return crop2d(f, y, x, h, w);
}

// Σ over f's positions of f fᵀ (C×C): gram() normalises by C·h·w, which is undone here.
Tensor gram_sum(const Tensor& f) {
    const Shape& s = f.shape();
    return scale(gram(f), double(s[1]) * double(s[2]) * double(s[3]));
}

}  // namespace

TileGrid make_tile_grid(int64_t height, int64_t width, int64_t tile, int64_t halo) {
    if (tile < 16 || tile % 16 || halo < 0 || halo % 16)
        throw Error("--tile-size " + std::to_string(tile) + ": must be a multiple of 16, at least 16");
    TileGrid g{height, width, tile, halo, {}};
    for (int64_t y0 = 0; y0 < height; y0 += tile)
        for (int64_t x0 = 0; x0 < width; x0 += tile) {
            TileGrid::Tile t;
            t.y0 = y0, t.x0 = x0, t.h = std::min(tile, height - y0), t.w = std::min(tile, width - x0);
            t.iy0 = std::max<int64_t>(0, y0 - halo), t.ix0 = std::max<int64_t>(0, x0 - halo);
            t.ih = std::min(height, y0 + t.h + halo) - t.iy0, t.iw = std::min(width, x0 + t.w + halo) - t.ix0;
            g.tiles.push_back(t);
        }
    return g;
}

size_t evaluation_bytes(int64_t h, int64_t w) { return size_t(h) * size_t(w) * 5120; }

int64_t choose_tile_size(int64_t halo, size_t budget) {
    int64_t best = -1;
    for (int64_t t = 64; t <= 4096; t += 16)
        if (evaluation_bytes(t + 2 * halo, t + 2 * halo) <= budget) best = t;
    return best;
}

int64_t halo_for_layers(const std::vector<std::string>& layers) {
    int64_t need = 0;
    for (const std::string& l : layers) {
        const LayerGeometry g = layer_geometry(l);
        need = std::max(need, g.receptive / 2 + g.stride);
    }
    return (need + 15) / 16 * 16;
}

TiledObjective::TiledObjective(const weights::Vgg19Weights& w, Device device, const ObjectiveConfig& cfg,
                               const Tensor& content, const std::vector<Tensor>& styles, std::vector<double> blend,
                               const StyleControls& controls, int64_t tile, dist::Communicator* ranks)
    : net_(w, device, union_of(cfg.content_layers, cfg.style_layers), cfg.pooling), device_(device), cfg_(cfg),
      ranks_(ranks && ranks->size() > 1 ? ranks : nullptr) {
    if (!controls.masks.empty()) throw Error("--style-masks cannot be combined with --tile-size (not supported tiled yet)");
    if (cfg.normalize_gradients)
        throw Error("--normalize-gradients cannot be combined with --tile-size: it normalises by a whole layer's gradient");
    if (styles.empty()) throw Error("no style image given");
    if (blend.empty()) blend.assign(styles.size(), 1.0);
    double total = 0;
    for (double b : blend) total += b;
    if (!(total > 0)) throw Error("--style-blend-weights must not all be zero");
    scale_ = weight_scale_of(net_);
    const int64_t halo = halo_for_layers(union_of(cfg.content_layers, cfg.style_layers));
    grid_ = make_tile_grid(content.shape()[2], content.shape()[3], tile, halo);
    if (ranks_ && grid_.tiles.size() < size_t(ranks_->size()))
        dist::refuse_together("--tile-size " + std::to_string(tile) + " makes " + std::to_string(grid_.tiles.size()) +
                              " tile(s) of the " + std::to_string(grid_.width) + "x" + std::to_string(grid_.height) +
                              " image, fewer than the " + std::to_string(ranks_->size()) +
                              " ranks: use a smaller --tile-size or fewer ranks");

    NoGradGuard ng;
    for (size_t s = 0; s < styles.size(); ++s) {
        const std::vector<Tensor> g = tiled_grams(styles[s]);
        for (size_t i = 0; i < g.size(); ++i) {
            const Tensor t = scale(g[i], blend[s] / total);
            if (style_targets_.size() <= i) style_targets_.push_back(t);
            else style_targets_[i] = add(style_targets_[i], t);
        }
    }
    if (controls.coarse_style.defined()) {
        const std::vector<Tensor> g = tiled_grams(controls.coarse_style);
        for (size_t i = 0; i < cfg.style_layers.size(); ++i)
            if (std::find(controls.coarse_layers.begin(), controls.coarse_layers.end(), cfg.style_layers[i]) !=
                controls.coarse_layers.end())
                style_targets_[i] = g[i];
    }
    const Tensor x = net_.preprocess(content).to(device);
    for (size_t k = 0; k < grid_.tiles.size(); ++k) {
        const TileGrid::Tile& t = grid_.tiles[k];
        std::vector<Tensor> targets;
        if (!mine(k)) {  // another rank's tile: its targets live there
            content_targets_.push_back(std::move(targets));
            continue;
        }
        const auto out = net_.forward(crop2d(x, t.iy0, t.ix0, t.ih, t.iw));
        for (const std::string& l : cfg.content_layers) targets.push_back(owned(tap(out, l), t, layer_geometry(l).stride));
        content_targets_.push_back(std::move(targets));
    }
}

std::vector<Tensor> TiledObjective::tiled_grams(const Tensor& rgb) const {
    NoGradGuard ng;
    const Tensor x = net_.preprocess(rgb).to(device_);
    const TileGrid g = make_tile_grid(x.shape()[2], x.shape()[3], grid_.tile, grid_.halo);
    std::vector<Tensor> sums(cfg_.style_layers.size());
    std::vector<int64_t> positions(cfg_.style_layers.size(), 0);
    for (const TileGrid::Tile& t : g.tiles) {
        const auto out = net_.forward(crop2d(x, t.iy0, t.ix0, t.ih, t.iw));
        for (size_t i = 0; i < sums.size(); ++i) {
            const Tensor f = owned(tap(out, cfg_.style_layers[i]), t, layer_geometry(cfg_.style_layers[i]).stride);
            if (!f.defined()) continue;
            sums[i] = sums[i].defined() ? add(sums[i], gram_sum(f)) : gram_sum(f);
            positions[i] += f.shape()[2] * f.shape()[3];
        }
    }
    for (size_t i = 0; i < sums.size(); ++i) {
        const double C = double(sums[i].shape()[1]);
        sums[i] = scale(sums[i], 1.0 / (C * double(positions[i])));  // G = Σ f fᵀ / (C·H·W), as gram()
    }
    return sums;
}

std::vector<Tensor> TiledObjective::tile_gram_sums(const Tensor& x, size_t t) const {
    NoGradGuard ng;
    const TileGrid::Tile& tile = grid_.tiles.at(t);
    const auto out = net_.forward(crop2d(x, tile.iy0, tile.ix0, tile.ih, tile.iw));
    std::vector<Tensor> sums;
    for (const std::string& l : cfg_.style_layers) {
        const Tensor f = owned(tap(out, l), tile, layer_geometry(l).stride);
        sums.push_back(f.defined() ? gram_sum(f) : Tensor());
    }
    return sums;
}

Tensor TiledObjective::tile_gradient(const Tensor& x, size_t t, const std::vector<Tensor>& dE_dG,
                                     std::vector<Tensor>& content_terms) {
    const TileGrid::Tile& tile = grid_.tiles.at(t);
    Tensor window;
    {
        NoGradGuard ng;
        window = crop2d(x, tile.iy0, tile.ix0, tile.ih, tile.iw);
    }
    window.requires_grad_();
    const auto out = net_.forward(window);
    const double s2 = scale_ * scale_;
    Tensor loss;
    auto accumulate = [&](const Tensor& term) { loss = loss.defined() ? add(loss, term) : term; };
    for (size_t i = 0; i < cfg_.style_layers.size(); ++i) {
        const Tensor f = owned(tap(out, cfg_.style_layers[i]), tile, layer_geometry(cfg_.style_layers[i]).stride);
        if (f.defined()) accumulate(sum(mul(dE_dG[i], gram_sum(f))));
    }
    for (size_t i = 0; i < cfg_.content_layers.size(); ++i) {
        const std::string& l = cfg_.content_layers[i];
        const Tensor f = owned(tap(out, l), tile, layer_geometry(l).stride);
        if (!f.defined()) continue;
        // The whole layer's mean: this tile's squared errors over all of the layer's elements.
        const LayerGeometry g = layer_geometry(l);
        const double all = double(f.shape()[1]) * double(grid_.height / g.stride) * double(grid_.width / g.stride);
        const Tensor term = scale(mse(f, content_targets_[t][i]), cfg_.content_weight * s2 * double(f.numel()) / all);
        content_terms[i] = content_terms[i].defined() ? add(content_terms[i], term.detach()) : term.detach();
        accumulate(term);
    }
    if (!loss.defined()) return Tensor::zeros(window.shape(), window.dtype(), window.device());
    loss.backward();
    return window.grad();
}

Tensor TiledObjective::evaluate(const Tensor& x_in, Tensor& g) {
    const Tensor x = x_in.detach();
    const double s2 = scale_ * scale_, ws = cfg_.style_weight * s2 * s2;
    LossTerms terms;
    // Pass 1: every tile's Gram sums, then each layer's global Gram, its term and dE/dG.
    std::vector<Tensor> sums(cfg_.style_layers.size());
    for (size_t t = 0; t < grid_.tiles.size(); ++t) {
        if (!mine(t)) continue;
        const std::vector<Tensor> part = tile_gram_sums(x, t);
        for (size_t i = 0; i < part.size(); ++i)
            if (part[i].defined()) sums[i] = sums[i].defined() ? add(sums[i], part[i]) : part[i];
    }
    if (ranks_) sum_gram_sums(sums);
    std::vector<Tensor> dE_dG;
    {
        NoGradGuard ng;
        for (size_t i = 0; i < sums.size(); ++i) {
            const LayerGeometry geo = layer_geometry(cfg_.style_layers[i]);
            const double C = double(sums[i].shape()[1]);
            const double positions = double(grid_.height / geo.stride) * double(grid_.width / geo.stride);
            const Tensor G = scale(sums[i], 1.0 / (C * positions));
            const Tensor D = sub(G, style_targets_[i]);
            terms.style.push_back(scale(mse(G, style_targets_[i]), ws));
            // E = ws·mean((G − A)²) over C² entries; G = Σ_tiles sums / (C·positions).
            dE_dG.push_back(scale(D, 2.0 * ws / (C * C) / (C * positions)));
        }
    }
    // Pass 2: each tile's share of the gradient, added into the image's.
    Tensor grad = Tensor::zeros(x.shape(), x.dtype(), x.device());
    std::vector<Tensor> content(cfg_.content_layers.size());
    for (size_t t = 0; t < grid_.tiles.size(); ++t) {
        if (!mine(t)) continue;
        const Tensor gt = tile_gradient(x, t, dE_dG, content);
        NoGradGuard ng;
        const TileGrid::Tile& tile = grid_.tiles[t];
        paste2d(grad, add(crop2d(grad, tile.iy0, tile.ix0, tile.ih, tile.iw), gt), tile.iy0, tile.ix0);
    }
    // TV on the whole image (no network: its memory is the image's).
    Tensor xv = x.detach().requires_grad_();
    if (cfg_.tv_weight != 0 && (!ranks_ || ranks_->is_root())) {  // (under ranks, rank 0's share)
        Tensor tv = scale(total_variation(xv), 0.5 * cfg_.tv_weight * s2);
        tv.backward();
        terms.tv = tv.detach();
    } else {
        terms.tv = Tensor::zeros({}, DType::F32, device_);
    }
    NoGradGuard ng;
    if (xv.grad().defined()) grad = add(grad, xv.grad());
    if (ranks_) sum_gradient_and_terms(grad, content, terms);
    Tensor total = terms.tv;
    for (const Tensor& c : content) {
        terms.content.push_back(c.defined() ? c : Tensor::zeros({}, DType::F32, device_));
        total = add(total, terms.content.back());
    }
    for (const Tensor& s : terms.style) total = add(total, s);
    terms.total = total;
    g.copy_(grad.reshape(g.shape()));
    last_ = terms;
    return terms.total;
}

namespace {

// The floats of a tensor (on any device) appended to v.
void append(std::vector<float>& v, const Tensor& t) {
    const Tensor c = t.cpu();
    v.insert(v.end(), c.data<float>(), c.data<float>() + c.numel());
}

}  // namespace

void TiledObjective::sum_gram_sums(std::vector<Tensor>& sums) const {
    std::vector<float> all;
    for (size_t i = 0; i < sums.size(); ++i)  // a rank that owned no position of a layer sends zeros
        append(all, sums[i].defined() ? sums[i] : Tensor::zeros(style_targets_[i].shape(), DType::F32, device_));
    ranks_->all_reduce_sum(all.data(), int64_t(all.size()));
    size_t at = 0;
    for (size_t i = 0; i < sums.size(); ++i) {
        const Shape& s = style_targets_[i].shape();
        const size_t n = size_t(style_targets_[i].numel());
        sums[i] = Tensor::from_vector(std::vector<float>(all.begin() + long(at), all.begin() + long(at + n)), s, device_);
        at += n;
    }
}

void TiledObjective::sum_gradient_and_terms(Tensor& grad, std::vector<Tensor>& content, LossTerms& terms) const {
    // One all-reduce: the gradient, then each content term, then TV.
    std::vector<float> all;
    all.reserve(size_t(grad.numel()) + content.size() + 1);
    append(all, grad);
    for (const Tensor& c : content) all.push_back(c.defined() ? float(c.item()) : 0.f);
    all.push_back(float(terms.tv.item()));
    ranks_->all_reduce_sum(all.data(), int64_t(all.size()));
    const size_t n = size_t(grad.numel());
    grad = Tensor::from_vector(std::vector<float>(all.begin(), all.begin() + long(n)), grad.shape(), device_);
    // The terms as rank 0 has them (its Gram sums may differ from another rank's in the last bit: MPI does
    // not promise one summation order), so that every rank's loss, and what it decides on it, is the same:
    // TV, the content terms (summed above), the style terms.
    std::vector<float> values{all[n + content.size()]};
    values.insert(values.end(), all.begin() + long(n), all.begin() + long(n + content.size()));
    for (const Tensor& s : terms.style) values.push_back(float(s.item()));
    ranks_->broadcast(values.data(), values.size() * sizeof(float), 0);
    terms.tv = Tensor::full({}, values[0], DType::F32, device_);
    for (size_t i = 0; i < content.size(); ++i) content[i] = Tensor::full({}, values[1 + i], DType::F32, device_);
    for (size_t i = 0; i < terms.style.size(); ++i)
        terms.style[i] = Tensor::full({}, values[1 + content.size() + i], DType::F32, device_);
}

}  // namespace nst
