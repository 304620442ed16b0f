// stylize --model (contract in feedforward.h).
#include "stylize/feedforward.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <cmath>
#include <functional>
#include <iostream>
#include <ostream>
#include <sstream>

#include "base/device.h"
#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/ops.h"
#include "dist/communicator.h"
#include "layers/transformer_net.h"
#include "media/color.h"
#include "stylize/arbitrary_style.h"
#include "stylize/stylize.h"
#include "stylize/tiled_style_network.h"
#include "stylize/write_targets.h"
#include "weights/vgg19_weights.h"

namespace nst {

StyleNetwork load_style_network(const ModelOptions& o, Device d) { return StyleNetwork::load(o.model, d, "--model"); }

Device open_model_device(const ModelOptions& o) {
    StylizeOptions s;
    s.gpu = o.gpu;
    s.backend = o.backend;
    return open_device(s);
}

std::vector<float> parse_style_mix(const std::string& spec, int styles) {
    const std::string flag = "--style-mix " + spec + ": ";
    if (spec.empty()) throw Error("--style-mix: give a style number (0.." + std::to_string(styles - 1) + ") or weights such as 3:0.5,12:0.5");
    std::vector<double> w(size_t(styles), 0.0);
    std::stringstream items(spec);
    std::string item;
    while (std::getline(items, item, ',')) {
        const size_t colon = item.find(':');
        const std::string num = item.substr(0, colon), weight = colon == std::string::npos ? "1" : item.substr(colon + 1);
        size_t used = 0, used_w = 0;
        long k = -1;
        double v = 0;
        try {
            k = std::stol(num, &used);
            v = std::stod(weight, &used_w);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used == 0 || used != num.size() || used_w != weight.size())
            throw Error(flag + "'" + item + "' is not STYLE or STYLE:WEIGHT");
        if (k < 0 || k >= styles)
            throw Error(flag + "style " + num + " does not exist: this network has styles 0.." + std::to_string(styles - 1));
        if (!std::isfinite(v) || v < 0) throw Error(flag + "weights must be numbers >= 0, not " + weight);
        w[size_t(k)] += v;
    }
    double total = 0;
    for (double v : w) total += v;
    if (!(total > 0)) throw Error(flag + "the weights sum to 0");
    std::vector<float> out;
    for (double v : w) out.push_back(float(v / total));
    return out;
}

namespace {

namespace fs = std::filesystem;

// The photos of a --content-image folder: its image files (by extension), sorted by name.
std::vector<fs::path> photos_in(const std::string& dir) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string ext = extension_of(e.path().string());
        if (e.is_regular_file() && (ext == "png" || ext == "jpg" || ext == "jpeg" || ext == "bmp" || ext == "tga")) out.push_back(e.path());
    }
    if (ec) throw Error("--content-image " + dir + ": cannot list the folder (" + ec.message() + ")");
    std::sort(out.begin(), out.end());
    if (out.empty()) throw Error("--content-image " + dir + ": the folder holds no .png, .jpg, .bmp or .tga files");
    return out;
}

// An arbitrary-style network's style vector from --style-image, by --style-predictor (or the predictor
// beside --model); for any other network --style-image and --style-predictor are refused by name.
void set_style_picture(StyleNetwork& net, const ModelOptions& o, std::ostream& log) {
    if (net.style_vector_input().empty()) {
        if (!o.style_image.empty() || !o.style_predictor.empty())
            throw Error(std::string(o.style_image.empty() ? "--style-predictor" : "--style-image") + ": --model " + o.model +
                        " holds its styles; a style picture applies to an arbitrary-style network (e.g. arbitrary_transform.onnx)");
        return;
    }
    if (o.style_image.empty())
        throw Error("--model " + o.model + " paints in the style of any picture: give one with --style-image");
    std::string predictor = o.style_predictor;
    if (predictor.empty()) {
        predictor = predictor_beside(o.model);
        if (predictor.empty() || !std::filesystem::exists(predictor))
            throw Error("--style-predictor: none given and " + (predictor.empty() ? std::string("--model's name has no 'transform' to find it by")
                                                                                 : "no " + predictor + " beside --model"));
    }
    Image painting;
    try {
        painting = load_image(o.style_image, o.max_pixels);
    } catch (const Error& e) {
        throw Error(std::string("--style-image: ") + e.what());
    }
    const auto t0 = std::chrono::steady_clock::now();
    const OnnxTensor v = predict_style_vector(predictor, painting, "--style-predictor");
    try {
        net.set_style_vector(v);
    } catch (const Error& e) {
        throw Error("--style-predictor " + predictor + ": " + e.what());
    }
    log << "stylize --model: the style of " << o.style_image << " by " << predictor << " (" << v.numel() << " numbers, "
        << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s on the host)" << std::endl;
}

// The tiles for a photo: --tile-size, else automatic (0: one pass) against --memory-budget or 70% of the
// device's available memory; `bytes_per_pixel` is measured on the first call (< 0 until then).
int64_t tile_for(const StyleNetwork& net, const Image& photo, const ModelOptions& o, double& bytes_per_pixel) {
    if (o.tile_size > 0) return o.tile_size;
    const size_t budget = o.memory_budget ? o.memory_budget : available_memory(net.device()) / 10 * 7;
    if (budget == 0) return 0;  // unknown: one pass, as before
    if (bytes_per_pixel < 0) bytes_per_pixel = forward_bytes_per_pixel(net);
    return automatic_tile_size(net, photo.width, photo.height, budget, bytes_per_pixel);
}

Image load_photo(const std::string& path, const ModelOptions& o, const StyleNetwork& net, int image_size) {
    Image photo;
    try {
        photo = load_image(path, o.max_pixels);
    } catch (const Error& e) {
        throw Error(std::string("--content-image: ") + e.what());
    }
    if (image_size > 0) photo = resize_longest(photo, image_size);
    if (photo.width < net.multiple() || photo.height < net.multiple())  // reflect padding needs more than the pad
        throw Error("--content-image " + path + ": " + std::to_string(photo.width) + "x" + std::to_string(photo.height) +
                    " is too small for the network (at least " + std::to_string(net.multiple()) + "x" + std::to_string(net.multiple()) + ")");
    return photo;
}

// The network's picture of `content` (1,3,H,W, 0..1, CPU), colours and --strength applied; adds the
// forward pass's seconds to `seconds`.
Tensor paint(const StyleNetwork& net, const Tensor& content, const ModelOptions& o, Device d, double& seconds, int64_t tile = 0,
             TiledRun* tiled = nullptr) {
    const auto t0 = std::chrono::steady_clock::now();
    Tensor out;
    {
        NoGradGuard no_grad;
        out = tile > 0 ? apply_tiled(net, content, tile, tiled) : net.apply(content.to(d)).cpu();
    }
    cuda_synchronize();
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    out = image_to_tensor(tensor_to_image(out));  // clamped to 0..1
    if (o.original_colors) out = original_colors(out, content);
    if (o.strength < 1) out = add(scale(out, o.strength), scale(content, 1.0 - o.strength));
    return out;
}

// Every style of a multi-style network on one photo, in a grid of ceil(sqrt(S)) columns, row by row in
// style order, 4 white pixels between cells.
Image contact_sheet(StyleNetwork& net, const Image& photo, const ModelOptions& o, Device d, double& seconds, std::ostream& log) {
    const int S = net.styles(), cols = int(std::ceil(std::sqrt(double(S)))), rows = (S + cols - 1) / cols, gap = 4;
    Image sheet;
    sheet.width = cols * photo.width + (cols - 1) * gap, sheet.height = rows * photo.height + (rows - 1) * gap;
    sheet.rgb.assign(size_t(sheet.width) * size_t(sheet.height) * 3, 1.0f);
    const Tensor content = image_to_tensor(photo);
    for (int k = 0; k < S; ++k) {
        std::vector<float> one(size_t(S), 0.0f);
        one[size_t(k)] = 1.0f;
        net.set_style_mix(one);
        const Image cell = tensor_to_image(paint(net, content, o, d, seconds));
        const int x0 = (k % cols) * (photo.width + gap), y0 = (k / cols) * (photo.height + gap);
        for (int y = 0; y < cell.height; ++y)
            std::copy_n(cell.rgb.begin() + ptrdiff_t(y) * cell.width * 3, size_t(cell.width) * 3,
                        sheet.rgb.begin() + (ptrdiff_t(y0 + y) * sheet.width + x0) * 3);
        log << "  style " << k << ": row " << k / cols << ", column " << k % cols << std::endl;
    }
    return sheet;
}

// Where a folder's photo `p` is painted: output_image/NAME.png.
std::string picture_path(const ModelOptions& o, const fs::path& p) {
    return (fs::path(o.output_image) / p.filename()).replace_extension(".png").string();
}

// What a folder's listing is, for the ranks to compare: the names and sizes of its photos.
uint64_t listing_fingerprint(const std::vector<fs::path>& photos) {
    std::string all;
    std::error_code ec;
    for (const auto& p : photos) all += p.filename().string() + "\n" + std::to_string(fs::file_size(p, ec)) + "\n";
    return std::hash<std::string>{}(all);
}

// A folder, over the job's ranks (issue #25; one process is the case of one rank). Round k, rank q paints
// photo k·N + q: photos of a folder cost about the same, and rank 0 can print each round in the photos'
// order. After each round one all-reduce of every rank's {painted or failed, width, height, seconds} and
// its stop vote: rank 0 prints the round, and all ranks stop together on a Ctrl-C. A photo that fails is
// reported by its rank (on stderr) and counted; the run's Error counting them is thrown on rank 0 only,
// the others returning their count, so the job ends non-zero with one message.
ModelResult paint_folder(StyleNetwork& net, const std::vector<fs::path>& photos, const ModelOptions& o, Device d,
                         const std::string& what, ModelResult r, std::ostream& log) {
    dist::Communicator& comm = dist::world();
    const int N = comm.size(), me = comm.rank();
    if (!dist::same_on_every_rank(comm, listing_fingerprint(photos)))
        dist::refuse_together("--content-image " + o.content_image + ": the ranks see different photos in the folder (give every rank the same folder, "
                    "on a file system they share)");
    if (comm.is_root())
        log << "stylize --model: " << what << " on " << photos.size() << " photos in " << o.content_image << " -> " << o.output_image
            << ", " << r.device << (N > 1 ? ", " + comm.describe() : std::string()) << std::endl;
    std::vector<std::string> failed;
    int painted = 0;
    double per_pixel = -1;
    const size_t rounds = (photos.size() + size_t(N) - 1) / size_t(N);
    for (size_t k = 0; k < rounds; ++k) {
        std::vector<double> round(size_t(4 * N + 1), 0.0);  // per rank: state (1 painted, 2 failed), w, h; then stop votes
        double* mine = &round[size_t(4 * me)];
        if (stop_requested()) round.back() = 1;
        const size_t i = k * size_t(N) + size_t(me);
        if (i < photos.size() && round.back() == 0) {
            const fs::path& p = photos[i];
            try {
                const Image photo = load_photo(p.string(), o, net, o.image_size);
                const int64_t tile = tile_for(net, photo, o, per_pixel);
                double seconds = 0;
                save_image(tensor_to_image(paint(net, image_to_tensor(photo), o, d, seconds, tile)), picture_path(o, p));
                mine[0] = 1, mine[1] = photo.width, mine[2] = photo.height, mine[3] = seconds;
            } catch (const Error& e) {
                mine[0] = 2;
                (comm.is_root() ? log : std::cerr) << "  warning: " << e.what() << " (skipped" << (N > 1 ? ", on rank " + std::to_string(me) : "")
                                                   << ")" << std::endl;
            }
        }
        if (N > 1) comm.all_reduce_sum(round.data(), int64_t(round.size()));
        if (round.back() > 0)
            throw Interrupted("stopped after " + std::to_string(painted) + " of " + std::to_string(photos.size()) + " photos");
        for (int q = 0; q < N && k * size_t(N) + size_t(q) < photos.size(); ++q) {
            const double* st = &round[size_t(4 * q)];
            const fs::path& p = photos[k * size_t(N) + size_t(q)];
            r.seconds += st[3];
            if (st[0] == 2) {
                failed.push_back(p.filename().string());
                continue;
            }
            ++painted;
            if (comm.is_root())
                log << "  " << p.filename().string() << " -> " << picture_path(o, p) << " (" << int(st[1]) << "x" << int(st[2]) << (N > 1 ? ", rank " + std::to_string(q) : "") << ")" << std::endl;
        }
    }
    r.pictures = painted;
    if (!failed.empty() && comm.is_root())
        throw SomePhotosFailed("--content-image " + o.content_image + ": " + std::to_string(failed.size()) + " of " + std::to_string(photos.size()) +
                    " photos could not be painted (" + failed.front() + (failed.size() > 1 ? ", ..." : "") + "); the other " +
                    std::to_string(painted) + " are in " + o.output_image);
    return r;
}

}  // namespace

ModelResult stylize_with_model(const ModelOptions& o, std::ostream& log) {
    if (o.model.empty()) throw Error("--model: give a network file");
    if (o.content_image.empty()) throw Error("--content-image is required");
    if (o.image_size < 0) throw Error("--image-size must be >= 0 (0: the photo's own size)");
    if (!(o.strength >= 0 && o.strength <= 1)) throw Error("--strength must be between 0 (the photo) and 1 (the network's picture)");
    std::error_code ec;
    const bool folder = fs::is_directory(o.content_image, ec);
    std::vector<PathFlag> inputs{{"--model", o.model, ""}};  // what the output must never overwrite
    if (!o.style_image.empty()) inputs.push_back({"--style-image", o.style_image, ""});
    if (!o.style_predictor.empty()) inputs.push_back({"--style-predictor", o.style_predictor, ""});
    if (folder && o.contact_sheet) throw Error("--contact-sheet takes one --content-image, not a folder");
    if (!folder && dist::world().size() > 1)  // (every rank refuses alike)
        dist::refuse_together("--content-image " + o.content_image + ": one photo is painted by one process; with several ranks (mpirun, srun) give a folder, "
                    "whose photos the " + std::to_string(dist::world().size()) + " ranks share");
    std::vector<fs::path> photos;
    if (folder) {
        photos = photos_in(o.content_image);
        if (fs::exists(o.output_image, ec) && !fs::is_directory(o.output_image, ec))
            throw Error("--output-image " + o.output_image + ": with a folder of photos, give a folder for the pictures");
        if (fs::exists(o.output_image, ec) && fs::equivalent(o.output_image, o.content_image, ec))
            throw Error("--output-image " + o.output_image + ": the same folder as --content-image; the pictures would overwrite the photos");
        fs::create_directories(o.output_image, ec);
        if (ec) throw Error("--output-image " + o.output_image + ": cannot create the folder (" + ec.message() + ")");
        for (const auto& p : photos) {
            std::vector<PathFlag> in = inputs;
            in.push_back({"--content-image", p.string(), ""});
            check_write_targets({{"--output-image", picture_path(o, p), ""}}, in);
        }
    } else {
        std::vector<PathFlag> in = inputs;
        in.push_back({"--content-image", o.content_image, ""});
        check_write_targets({{"--output-image", o.output_image, ""}}, in);
        if (const std::string ext = extension_of(o.output_image); ext != "png" && ext != "jpg" && ext != "jpeg")
            throw Error("--output-image " + o.output_image + ": must end in .png, .jpg or .jpeg");
    }
    if (!o.style_image.empty()) {  // a bad painting fails before any work
        try {
            (void)read_image_size(o.style_image, o.max_pixels);
        } catch (const Error& e) {
            const std::string what = e.what();
            throw Error(what.rfind(o.style_image, 0) == 0 ? "--style-image " + what : "--style-image " + o.style_image + ": " + what);
        }
    }
    const Device d = open_model_device(o);
    StyleNetwork net = load_style_network(o, d);
    set_style_picture(net, o, log);
    if (o.contact_sheet) {
        if (net.styles() == 0) throw Error("--contact-sheet: --model " + o.model + " holds one style; the sheet shows a multi-style network's");
        if (!o.style_mix.empty()) throw Error("--style-mix and --contact-sheet: the sheet shows every style, one per cell");
    } else if (net.styles() > 0) {
        if (o.style_mix.empty())
            throw Error("--model " + o.model + " holds " + std::to_string(net.styles()) + " styles: choose with --style-mix (e.g. 0, or 3:0.5,12:0.5)");
        net.set_style_mix(parse_style_mix(o.style_mix, net.styles()));
    } else if (!o.style_mix.empty()) {
        throw Error("--style-mix: --model " + o.model + " holds one style");
    }
    if (o.tile_size < 0) throw Error("--tile-size " + std::to_string(o.tile_size) + ": must be >= 0 (0: automatic)");
    if (o.tile_size > 0) {
        if (o.contact_sheet) net.set_style_mix(parse_style_mix("0", net.styles()));  // an ONNX graph's halo is measured with one
        check_tile_size(net, o.tile_size);
    }
    ModelResult r;
    r.styles = net.styles();
    r.device = d.str();
    std::string what = net.describe() + " (" + (net.styles() ? std::to_string(net.styles()) + " styles" : std::string("one style")) + ")";
    if (o.tile_size > 0)
        what += ", in tiles of " + std::to_string(o.tile_size) + " px + a " + std::to_string(tiled_halo(net)) +
                " px halo with the whole picture's instance-norm statistics (about K/2 + 1 passes for K norms)";
    if (o.contact_sheet) {
        const Image photo = load_photo(o.content_image, o, net, o.image_size > 0 ? o.image_size : 256);
        log << "stylize --model --contact-sheet: " << what << ", cells of " << photo.width << "x" << photo.height << ", " << r.device << std::endl;
        const Image sheet = contact_sheet(net, photo, o, d, r.seconds, log);
        r.width = sheet.width, r.height = sheet.height, r.pictures = net.styles();
        save_image(sheet, o.output_image);
        return r;
    }
    if (!folder) {
        const Image photo = load_photo(o.content_image, o, net, o.image_size);
        r.width = photo.width, r.height = photo.height, r.pictures = 1;
        log << "stylize --model: " << what << " on " << photo.width << "x" << photo.height << ", " << r.device << std::endl;
        TiledRun tiled;
        double per_pixel = -1;
        const int64_t tile = tile_for(net, photo, o, per_pixel);
        if (tile > 0 && o.tile_size == 0)
            log << "  one pass would take about " << int64_t(per_pixel * double(photo.width) * double(photo.height) / double(1 << 20))
                << " MiB, more than the memory at hand: tiles of " << tile << " px with the whole picture's statistics" << std::endl;
        save_image(tensor_to_image(paint(net, image_to_tensor(photo), o, d, r.seconds, tile, &tiled)), o.output_image);
        r.tile = tile;
        if (tile > 0)
            log << "  " << tiled.tiles << " tiles of " << tiled.tile << " px (+" << tiled.halo << " px halo), " << tiled.norms
                << " instance norms: " << tiled.passes << " passes over the tiles, about " << tiled.norms / 2 + 1
                << " forward passes of work" << std::endl;
        return r;
    }
    return paint_folder(net, photos, o, d, what, r, log);
}

}  // namespace nst
