// The style-transfer run behind apps/stylize: options in, an image file out.
// Validation happens before any heavy work; every problem is an nst::Error naming the flag or file.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
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

// Thrown when a stop was requested (Ctrl-C): the current image and a checkpoint have been saved.
struct Interrupted : Error {
    using Error::Error;
};

// Thrown when the finished result could not be written to --output-image (a full disk): it is kept in
// `checkpoint` instead, and the same run with --resume `checkpoint` writes the image without iterating.
struct ResultNotWritten : Error {
    ResultNotWritten(const std::string& what, std::string kept) : Error(what), checkpoint(std::move(kept)) {}
    std::string checkpoint;
};

// Asks a running stylize() to stop after the current iteration, saving the image and a checkpoint (and
// a running stylize_video() to stop, dropping the frame in progress). Async-signal-safe (a lock-free
// atomic store), so a SIGINT handler may call it. stylize() and stylize_video() clear it as they start.
void request_stop();
bool stop_requested();
void clear_stop_request();

// Throws nst::Error on any bad input; writes the output image (and intermediates, checkpoints, the JSON
// log) atomically. Progress goes to `log`. After a successful run the checkpoint is removed, unless
// keep_checkpoint: then it holds the last scale's last iteration, and resuming it with a larger
// --num-iterations continues the run exactly as if it had been started with that number.
StylizeResult stylize(const StylizeOptions& o, std::ostream& log);

// Parts of a run that stylize_video (nst/stylize_video.cpp) shares:
// the backend set and --gpu's device opened (or the CPU);
Device open_device(const StylizeOptions& o);
// the --optimizer for n values on d (Adam's learning rate divided by the weights' range factor);
class Optimizer;
std::unique_ptr<Optimizer> make_optimizer(const StylizeOptions& o, int64_t n, Device d, double weight_scale);
// neural-style's --init random start: randn · 0.001 around the mean colour, on a 0..255 scale.
Tensor noise_start(int64_t height, int64_t width, uint64_t seed, double weight_scale, Device d);

// Checks the options alone (no file is read). Called by stylize first; exposed for tests
// (nst/stylize_checks.cpp).
void validate(const StylizeOptions& o);

}  // namespace nst
