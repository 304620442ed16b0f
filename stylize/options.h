// The options and the result of a style-transfer run (stylize(), and per frame stylize_video()): plain
// structs, so that checks, checkpoints and progress reports take them without including a driver.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "nst/objective.h"

namespace nst {

struct StylizeOptions {
    std::string content_image;
    std::vector<std::string> style_images;
    std::vector<double> style_blend_weights;  // empty: equal
    std::vector<std::string> style_masks;     // one greyscale mask per style image (white: that style), or none
    std::string coarse_style_image;           // the large forms' style (--coarse-style-image), or none
    std::vector<std::string> coarse_style_layers{"relu3_1", "relu4_1", "relu5_1"};  // its layers
    int image_size = 512;                     // longest side of the output
    std::vector<int> scales;                  // coarse-to-fine pyramid; empty: {image_size}
    double style_scale = 1.0;
    int gpu = 0;                              // CUDA device, or -1 for the CPU
    std::string backend = "own";              // own | library (cuDNN/cuBLAS)
    std::string precision = "fp32";           // fp32 | tf32 (GPU: tensor cores for conv and Gram)
    std::string weights;                      // empty: NST_WEIGHTS, weights/vgg19.safetensors, ../shared/...
    ObjectiveConfig objective;
    int num_iterations = 1000;                // per scale
    std::string init = "random";              // random | image
    std::string init_image;                   // with init=image: this image instead of the content
    std::string optimizer = "lbfgs";          // lbfgs | adam
    double learning_rate = 1e1;               // Adam (for 0..255 inputs; rescaled for other conventions)
    int lbfgs_num_correction = 100;
    bool lbfgs_line_search = false;
    bool lbfgs_reserve_history = false;       // touch the whole history at the start (--lbfgs-reserve-history)
    int print_iter = 50;                      // 0: never
    int save_iter = 100;                      // 0: never; intermediate images and a checkpoint
    std::string output_image = "out.png";
    bool original_colors = false;
    std::string color_control = "none";       // none | luminance | histogram
    uint64_t seed = 0;
    std::string log_json;                     // per printed iteration losses and a summary
    std::string resume;                       // checkpoint to continue from
    std::string checkpoint;                   // where --save-iter writes it; default OUTPUT.ckpt.safetensors
    bool keep_checkpoint = false;             // keep it after success, with the last iteration (--keep-checkpoint)
    bool restart = false;                     // start afresh over a checkpoint of another run or this one (--restart)
    int64_t max_pixels = 64'000'000;          // refuse larger images before decoding (--max-pixels)
    bool cuda_graph = false;                  // GPU: replay the evaluation as a CUDA graph (--cuda-graph)
    int tile_size = 0;                        // tiles of this many pixels (--tile-size); 0: only when it would not fit
    int preview_port = -1;                    // >= 0: serve a live preview page (0: any free port)
    std::string preview_host = "127.0.0.1";   // the address the preview listens on
    int preview_linger = 5;                   // seconds the finished page is served on (-1: until Ctrl-C)
};

struct StylizeResult {
    int evaluations = 0;            // in this process (a resumed run counts from the resume)
    double seconds = 0;             // optimisation time, all scales
    double seconds_per_evaluation = 0;
    double initial_loss = 0, final_loss = 0;
    size_t peak_memory_bytes = 0;   // GPU: the caching allocator's peak; CPU: peak resident set
    std::string device;
    bool from_finished_checkpoint = false;  // resumed a finished result (kept when its image could not be written)
};

// Checks the options alone (no file is read): an nst::Error naming the flag. stylize() calls it first;
// stylize_video() for each frame's options (stylize/stylize_checks.cpp).
void validate(const StylizeOptions& o);

}  // namespace nst
