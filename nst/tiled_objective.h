// The style-transfer objective evaluated tile by tile, for images whose activations do not fit in memory
// (stylize --tile-size). The result is the whole image's objective, not a patchwork (docs/nst.md):
//   - the style term is global: each style layer's Gram is the sum over all tiles of the Gram sums of the
//     positions the tile owns, accumulated before any backward (pass 1); then dE/dG is formed once;
//   - pass 2 runs each tile's forward and backward on Σ_l <dE/dG_l, G_l(tile)> plus the tile's content
//     term, whose gradient is exactly the tile's share of the whole image's gradient;
//   - the content term is local (each position's own target), the TV term is taken on the whole image.
// Tiles own disjoint cores (a grid of --tile-size squares, multiples of 16 so every pooling grid
// lines up) and see a halo around them at least as wide as the deepest layer's receptive field needs, so
// the features of owned positions are exactly the untiled ones: tiling changes the result only by
// floating-point rounding, and no seam can show. Memory is bounded by one tile's activations (with its
// halo) plus the image-sized vectors (x, its gradient, the optimiser's state).
//
// The two halves of a tile's work take only the tile's pixels and the exchanged Gram data, so a tile
// can run on another GPU or process: tile_gram_sums (pass 1, its Gram sums go to the sum) and
// tile_gradient (pass 2, given dE/dG). Given a communicator of several ranks (mpirun stylize, issue #25),
// rank q evaluates tiles q, q + N, q + 2N, ...: each evaluation all-reduces the Gram sums once (Σ_l C_l²
// floats) between the passes and the image's gradient once after them; every rank then holds the whole
// gradient, and the loss terms are rank 0's, broadcast, so every rank decides alike on them.
#pragma once
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "nst/objective.h"

namespace nst {

// The partition of an H×W image into cores with halos.
struct TileGrid {
    struct Tile {
        int64_t y0, x0, h, w;      // the core this tile owns, in image pixels
        int64_t iy0, ix0, ih, iw;  // the window it reads: the core and its halo, clipped to the image
    };
    int64_t height = 0, width = 0, tile = 0, halo = 0;
    std::vector<Tile> tiles;
};

// tile and halo must be positive multiples of 16.
TileGrid make_tile_grid(int64_t height, int64_t width, int64_t tile, int64_t halo);

// The halo that makes a tile's features at its owned positions exact, for the deepest of these layers:
// half its receptive field plus one of its strides, rounded up to 16 pixels (96 for relu5_1).
int64_t halo_for_layers(const std::vector<std::string>& layers);

// Rough peak bytes of one whole-image evaluation of an h×w image (VGG-19 to relu5_1, forward and backward):
// 5 KiB a pixel. The layers hold about 610 floats a pixel (conv1 and relu1 outputs 256, block 2 128,
// block 3 128, block 4 64, ...), and backward needs transient gradients of the same order; measured peaks
// are 3-4 KiB a pixel beyond the fixed costs (docs/performance.md).
size_t evaluation_bytes(int64_t h, int64_t w);

// The largest tile (a multiple of 16, at least 64, at most 4096) whose window, with the halo on every
// side, evaluates within `budget` bytes; -1 when not even 64 does.
int64_t choose_tile_size(int64_t halo, size_t budget);

class TiledObjective : public Objective {
  public:
    // As StyleObjective (content and styles RGB 0..1 on the CPU), with the coarse style of `controls`;
    // masks are not supported tiled (refused). tile: the core size in pixels, a multiple of 16. ranks: the
    // processes sharing the tiles (collective: every rank constructs and evaluates alike); more ranks than
    // tiles is refused, on every rank.
    TiledObjective(const weights::Vgg19Weights& w, Device device, const ObjectiveConfig& cfg, const Tensor& content,
                   const std::vector<Tensor>& styles, std::vector<double> blend_weights, const StyleControls& controls,
                   int64_t tile, dist::Communicator* ranks = nullptr);

    Tensor evaluate(const Tensor& x, Tensor& g) override;
    const LossTerms& last() const override { return last_; }
    double weight_scale() const override { return scale_; }
    const VGG19& net() const override { return net_; }
    const TileGrid& grid() const { return grid_; }

    // Pass 1 for tile t of x (the whole image, on the device): per style layer, Σ over the owned
    // positions of f fᵀ (C×C, not normalised).
    std::vector<Tensor> tile_gram_sums(const Tensor& x, size_t t) const;
    // Pass 2 for tile t: the gradient of Σ_l <dE/dG_l, G_l(tile)> + the tile's content term with respect
    // to the tile's window of x, (1,3,ih,iw); adds the tile's weighted content terms (one-element tensors on
    // the device, so no tile waits for the device to report them) to content_terms.
    Tensor tile_gradient(const Tensor& x, size_t t, const std::vector<Tensor>& dE_dG, std::vector<Tensor>& content_terms);

  private:
    VGG19 net_;
    Device device_;
    ObjectiveConfig cfg_;
    double scale_ = 1;
    TileGrid grid_;
    dist::Communicator* ranks_ = nullptr;  // null: one process
    std::vector<Tensor> style_targets_;                   // per style layer: the blended Gram A_l
    std::vector<std::vector<Tensor>> content_targets_;    // per tile, per content layer: the content's owned features
    LossTerms last_;

    bool mine(size_t t) const { return !ranks_ || int(t % size_t(ranks_->size())) == ranks_->rank(); }
    // Under several ranks: every rank's Gram sums (C×C per layer; undefined where it owned no position)
    // summed; the gradients, content terms and TV term summed, then the terms made rank 0's.
    void sum_gram_sums(std::vector<Tensor>& sums) const;
    void sum_gradient_and_terms(Tensor& grad, std::vector<Tensor>& content, LossTerms& terms) const;
    // An image's Gram per style layer, accumulated over its own tile grid.
    std::vector<Tensor> tiled_grams(const Tensor& rgb) const;
};

}  // namespace nst
