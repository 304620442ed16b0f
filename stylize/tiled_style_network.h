// stylize --model --tile-size N: a feed-forward style network (StyleNetwork) run over tiles, so that a very
// large photo stylizes with the activations of one tile in memory and gives the untiled picture.
//
// Contract. apply_tiled(net, x, N) equals net.apply(x) up to float rounding (the tests ask for relative
// error < 1e-5). The photo is reflect-padded to the network's multiple, as apply() does, and cut into
// interiors of N x N (the last row and column smaller) that partition it exactly; each tile is its
// interior plus a halo of tiled_halo(net) pixels on each side, clipped at the picture's edge (where the
// network's own reflection padding is then the picture's). The halo covers the receptive field, so an
// interior's output never sees the tile edge. Instance norm's per-channel statistics are the WHOLE
// picture's (core/norm_stats.h): for norm k = 0..K-1 every tile runs up to norm k with norms < k given
// the statistics already found, adding the sums of its interior at norm k; a last pass runs every tile
// with all K given and pastes its interior. Compute is about K/2 + 1 forward passes of the tiles
// (halo included); memory is the picture and its output on the host plus one tile's activations.
// The halo is StyleNetwork::edge_reach rounded up to the network's multiple: TransformerNet's 55 px worked
// out by hand (56), an ONNX graph's measured by OnnxNet::edge_reach (an Error names what defeats tiling).
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "stylize/style_network.h"

namespace nst {

struct TiledRun {
    int64_t tile = 0, halo = 0;
    int tiles = 0;   // tiles per pass
    int norms = 0;   // K, the network's instance norms
    int passes = 0;  // passes over the tiles: K + 1, most of them stopped early
};

// The halo tiling `net` needs (a multiple of net.multiple()), or an Error naming why it cannot be tiled.
int64_t tiled_halo(const StyleNetwork& net);

// Checks --tile-size N for `net`: an Error naming the flag when N is under 64 (a tile would be mostly
// halo), not a multiple of the network's multiple, or the network cannot be tiled. apply_tiled itself
// takes any positive multiple (the tests use small tiles).
void check_tile_size(const StyleNetwork& net, int64_t tile);

// Automatic tiles (stylize --model without --tile-size): the memory of one untiled forward pass per input
// pixel on net.device(), measured by a pass over a probe of about 128 x 128 (the allocator's peak beyond
// what was in use before; kernels' own scratch is not counted, hence the 70% budget below).
double forward_bytes_per_pixel(const StyleNetwork& net);
// 0 when one pass over a W x H picture takes at most `budget` bytes at `bytes_per_pixel`; else the largest
// tile (a multiple of net.multiple(), at least 64) whose tile plus halo fits the budget. Errors say when
// even 64 px tiles would not fit, or why the network cannot be tiled (with the sizes, and what to do).
int64_t automatic_tile_size(const StyleNetwork& net, int64_t W, int64_t H, size_t budget, double bytes_per_pixel);

// net.apply(x) in tiles of `tile` pixels; x (1,3,H,W) RGB 0..1 on any device (kept on the host, each
// tile moved to net.device()); the result is on the host. `run`, if given, says what was done.
Tensor apply_tiled(const StyleNetwork& net, const Tensor& x, int64_t tile, TiledRun* run = nullptr);

}  // namespace nst
