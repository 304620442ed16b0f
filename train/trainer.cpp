// train_style's driver (contract in trainer.h).
#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <ostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/file_io.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "dist/communicator.h"
#include "layers/transformer_net.h"
#include "media/image.h"
#include "optim/flat_parameters.h"
#include "optim/optim.h"
#include "preview/preview_server.h"
#include "stylize/checkpoint.h"
#include "stylize/progress.h"
#include "stylize/stylize.h"
#include "stylize/write_targets.h"
#include "train/photo_loader.h"
#include "weights/safetensors.h"
#include "weights/vgg19_weights.h"

namespace nst {

namespace {

// Everything that changes the result, by the flag's name; files by content.
RunFingerprint train_fingerprint(const TrainOptions& o, const std::vector<std::string>& photos) {
    RunFingerprint f;
    for (size_t i = 0; i < o.style_images.size(); ++i)
        f["--style-image " + std::to_string(i + 1)] = file_fingerprint(o.style_images[i], "--style-image");
    f["--weights"] = file_fingerprint(o.weights, "--weights");
    std::string names;  // the photos by name and size (hashing 400 JPEGs would take longer than it is worth)
    for (const auto& p : photos) {
        std::error_code ec;
        names += std::filesystem::path(p).filename().string() + ":" + std::to_string(std::filesystem::file_size(p, ec)) + "\n";
    }
    f["--content-dir"] = bytes_fingerprint(names);
    f["--batch-size"] = std::to_string(o.batch_size);
    f["--image-size"] = std::to_string(o.image_size);
    f["--style-size"] = std::to_string(o.style_size);
    f["--seed"] = std::to_string(o.seed);
    f["--learning-rate"] = fingerprint_number(o.learning_rate);
    f["--content-weight"] = fingerprint_number(o.loss.content_weight);
    f["--style-weight"] = fingerprint_number(o.loss.style_weight);
    f["--tv-weight"] = fingerprint_number(o.loss.tv_weight);
    f["--content-layers"] = fingerprint_list(o.loss.content_layers);
    f["--style-layers"] = fingerprint_list(o.loss.style_layers);
    if (o.from_model.empty()) f["--widths"] = fingerprint_list(o.widths);
    else f["--from-model"] = file_fingerprint(o.from_model, "--from-model");
    return f;
}

std::string fingerprint_json(const RunFingerprint& f) { return nlohmann::json(f).dump(); }

weights::HostTensor host(const Tensor& t) {
    weights::HostTensor h;
    h.shape = t.shape();
    h.values = t.cpu().to_vector<float>();
    return h;
}

void save_train_checkpoint(const std::string& path, const RunFingerprint& fp, int steps, const FlatParameters& flat,
                           const Optimizer& opt) {
    weights::WeightFile f;
    f.tensors["values"] = host(flat.values());
    const OptimizerState st = opt.save();
    for (const auto& [k, t] : st.tensors) f.tensors["optimizer." + k] = host(t.reshape({t.numel()}));
    for (const auto& [k, v] : st.numbers) f.metadata["nst.optimizer." + k] = fingerprint_number(v);
    f.metadata["nst.train.steps"] = std::to_string(steps);
    f.metadata["nst.train.fingerprint"] = fingerprint_json(fp);
    f.metadata["nst.train.optimizer"] = opt.name();
    weights::write_safetensors(path, f);
}

// Returns the steps done; loads the parameters and the optimizer's state.
int load_train_checkpoint(const std::string& path, const RunFingerprint& fp, FlatParameters& flat, Optimizer& opt) {
    weights::WeightFile f;
    try {
        f = weights::read_any_weights(path);
    } catch (const Error& e) {
        throw Error(std::string("--resume: ") + e.what());
    }
    const auto meta = [&](const std::string& k) -> const std::string& {
        auto it = f.metadata.find(k);
        if (it == f.metadata.end()) throw Error("--resume " + path + ": not a train_style checkpoint (no " + k + ")");
        return it->second;
    };
    const std::string diff = fingerprint_differences(meta("nst.train.fingerprint"), fp);
    if (!diff.empty()) throw Error("--resume " + path + ": the checkpoint belongs to another run: " + diff);
    const auto it = f.tensors.find("values");
    if (it == f.tensors.end() || int64_t(it->second.values.size()) != flat.size())
        throw Error("--resume " + path + ": its parameters do not fit this network");
    flat.values().copy_(Tensor::from_vector(it->second.values, {flat.size()}, flat.values().device()));
    flat.scatter_values();
    OptimizerState st;
    for (const auto& [k, t] : f.tensors)
        if (k.rfind("optimizer.", 0) == 0) {
            const std::string name = k.substr(10);
            const Shape shape = name == "f" ? Shape{} : Shape{int64_t(t.values.size())};
            st.tensors[name] = Tensor::from_vector(t.values, shape, flat.values().device());
        }
    for (const auto& [k, v] : f.metadata)
        if (k.rfind("nst.optimizer.", 0) == 0) st.numbers[k.substr(14)] = std::stod(v);
    opt.load(st);
    return std::stoi(meta("nst.train.steps"));
}

Tensor load_style(const std::string& path, int size, const char* flag) {
    Image img;
    try {
        img = load_image(path);
    } catch (const Error& e) {
        throw Error(std::string(flag) + ": " + e.what());
    }
    if (size > 0) img = resize_longest(img, size);
    return image_to_tensor(img);
}

// The styles a model file names: those of --from-model (by its metadata, or numbered), then ours.
std::string model_metadata_styles(const TrainOptions& o, const std::vector<std::string>& earlier) {
    nlohmann::json s = nlohmann::json::array();
    for (const auto& e : earlier) s.push_back(e);
    for (const auto& p : o.style_images) s.push_back(std::filesystem::path(p).filename().string());
    return s.dump();
}

// --from-model's network with one more row in every conditional norm (its 2-D parameters), and the names
// of its styles. The new row starts as the mean of the others: the blend of the styles the network
// knows is already a picture, a nearer start than the plain scale 1, shift 0.
TransformerNet grown_network(const std::string& path, Device dev, std::vector<std::string>& styles) {
    weights::WeightFile f;
    try {
        f = weights::read_any_weights(path);
    } catch (const Error& e) {
        throw Error(std::string("--from-model: ") + e.what());
    }
    const auto n1 = f.tensors.find("in1.weight");
    if (n1 == f.tensors.end()) throw Error("--from-model " + path + ": not a TransformerNet (no in1.weight)");
    if (n1->second.shape.size() != 2)
        throw Error("--from-model " + path + ": a one-style network (plain instance norm); --add-style adds a style to "
                    "a multi-style one (trained with several --style-image)");
    const int64_t S = n1->second.shape[0];
    for (auto& [name, t] : f.tensors) {
        if (t.shape.size() != 2) continue;
        const int64_t C = t.shape[1];
        if (t.shape[0] != S) throw Error("--from-model " + path + ": " + name + " has " + std::to_string(t.shape[0]) +
                                         " style rows, in1.weight " + std::to_string(S));
        for (int64_t c = 0; c < C; ++c) {
            double sum = 0;
            for (int64_t r = 0; r < S; ++r) sum += t.values[size_t(r * C + c)];
            t.values.push_back(float(sum / double(S)));
        }
        t.shape[0] = S + 1;
    }
    styles.clear();
    try {
        for (const auto& v : nlohmann::json::parse(f.metadata.at("nst.styles"))) styles.push_back(v.get<std::string>());
    } catch (const std::exception&) {
        styles.clear();
    }
    if (int64_t(styles.size()) != S) {
        styles.clear();
        for (int64_t r = 0; r < S; ++r) styles.push_back("style " + std::to_string(r + 1));
    }
    return TransformerNet::from_weights(f, dev, path);
}

// --sample-image as the network takes it: (1,3,H,W) in 0..255, longest side `size`, both sides cut down
// to multiples of 4 (the network halves twice and doubles twice).
Tensor load_sample(const std::string& path, int size) {
    Image img;
    try {
        img = resize_longest(load_image(path), size);
    } catch (const Error& e) {
        throw Error(std::string("--sample-image: ") + e.what());
    }
    if (img.width < 4 || img.height < 4) throw Error("--sample-image " + path + ": too small to paint");
    const int w = img.width / 4 * 4, h = img.height / 4 * 4;
    Image cut;
    cut.width = w, cut.height = h;
    cut.rgb.resize(size_t(w) * h * 3);
    for (int y = 0; y < h; ++y)
        std::copy_n(img.rgb.begin() + (size_t(y) * img.width) * 3, size_t(w) * 3, cut.rgb.begin() + size_t(y) * w * 3);
    return scale(image_to_tensor(cut), 255.0);
}

// "[#######.................]" for done of total.
std::string progress_bar(int done, int total) {
    constexpr int kWidth = 24;
    const int fill = total > 0 ? int(int64_t(done) * kWidth / total) : kWidth;
    return "[" + std::string(size_t(fill), '#') + std::string(size_t(kWidth - fill), '.') + "]";
}

// t summed over every rank, staged through the host (Debian's Open MPI is not CUDA-aware).
Tensor sum_over_ranks(dist::Communicator& comm, const Tensor& t) {
    std::vector<float> h = t.cpu().to_vector<float>();
    comm.all_reduce_sum(h.data(), int64_t(h.size()));
    return Tensor::from_vector(h, t.shape(), t.device());
}

}  // namespace

TrainResult train_style(const TrainOptions& o, std::ostream& out) {
    using clock = std::chrono::steady_clock;
    // Several processes (mpirun, dist/): each takes its share of every batch, one all-reduce sums the
    // flat gradient, and every rank runs the same Adam on the same numbers. Rank 0 alone prints and writes.
    dist::Communicator& comm = dist::world();
    const bool root = comm.is_root();
    std::ostringstream elsewhere;  // the other ranks' log, dropped
    std::ostream& log = root ? out : elsewhere;
    if (o.style_images.empty()) throw Error("--style-image: at least one style image is needed");
    if (o.iterations < 1) throw Error("--iterations must be at least 1, got " + std::to_string(o.iterations));
    if (o.learning_rate <= 0) throw Error("--learning-rate must be positive");
    if (o.output_model.empty()) throw Error("--output-model: a file to write the trained network to is needed");
    if (o.output_model.size() < 12 || o.output_model.compare(o.output_model.size() - 12, 12, ".safetensors") != 0)
        throw Error("--output-model " + o.output_model + ": must end in .safetensors");
    const bool adding = !o.from_model.empty();
    if (adding && o.style_images.size() != 1)
        throw Error("--add-style: one new style at a time, got " + std::to_string(o.style_images.size()));
    std::vector<PathFlag> inputs{{"--weights", o.weights, ""}, {"--resume", o.resume, ""}, {"--from-model", o.from_model, ""}};
    for (const auto& s : o.style_images) inputs.push_back({adding ? "--add-style" : "--style-image", s, ""});
    inputs.push_back({"--sample-image", o.sample_image, ""});
    check_write_targets({{"--output-model", o.output_model, ""}, {"--checkpoint", o.checkpoint, "--resume"},
                         {"--log-json", o.log_json, ""}},
                        inputs);
    if (!o.sample_dir.empty() && root) {
        if (o.sample_image.empty()) throw Error("--sample-dir: needs a photo to paint (--sample-image)");
        std::error_code ec;
        std::filesystem::create_directories(o.sample_dir, ec);
        if (ec || !std::filesystem::is_directory(o.sample_dir))
            throw Error("--sample-dir " + o.sample_dir + ": cannot make the folder (" + ec.message() + ")");
    }
    const Tensor sample_photo = o.sample_image.empty() ? Tensor() : load_sample(o.sample_image, o.image_size);
    std::unique_ptr<PreviewServer> preview;
    if (o.preview_port >= 0 && root) {  // bound before any work: a port in use is refused at once
        preview = std::make_unique<PreviewServer>(o.preview_host, o.preview_port);
        log << "live preview: " << preview->url() << std::endl;
    }

    PhotoLoader photos(o.content_dir, o.image_size, o.batch_size, o.seed, log);
    const dist::Share mine = dist::share_of(o.batch_size, comm.rank(), comm.size());
    if (o.batch_size < comm.size())  // (the same test on every rank: they all refuse together)
        throw Error("--batch-size " + std::to_string(o.batch_size) + ": fewer photos per step than processes (" +
                    std::to_string(comm.size()) + "); each needs at least one");
    photos.set_slice(int(mine.begin), int(mine.end - mine.begin));
    // This rank's part of the batch mean: the losses are means over the batch, so the global one is the
    // sum of each rank's loss times its share.
    const double part = double(mine.end - mine.begin) / o.batch_size;
    std::vector<Tensor> styles;
    for (const auto& s : o.style_images) styles.push_back(load_style(s, o.style_size, adding ? "--add-style" : "--style-image"));
    const RunFingerprint fp = train_fingerprint(o, photos.files());

    StylizeOptions so;
    so.gpu = o.gpu;
    const Device dev = open_device(so);
    const weights::Vgg19Weights vgg = weights::load_vgg19_weights(o.weights);
    PerceptualLoss loss(vgg, dev, o.loss, styles);

    const int S = int(o.style_images.size());
    std::vector<std::string> earlier_styles;  // --from-model's
    TransformerNet net = adding ? grown_network(o.from_model, dev, earlier_styles)
                                : TransformerNet::random(o.seed, S > 1 ? S : 0, dev, o.widths);
    std::vector<Tensor> trained;  // everything, or with --from-model the norms' rows (the 2-D parameters)
    for (Tensor p : net.parameters())
        if (!adding || p.ndim() == 2) trained.push_back(p.requires_grad_());
    FlatParameters flat(trained);
    const int rows = net.styles();  // 0: the plain network
    // The row step k trains, and its style image.
    const auto row_of = [&](int k) { return adding ? rows - 1 : k % std::max(S, 1); };
    const auto style_of = [&](int k) { return adding ? 0 : k % S; };
    // A conditional network's style weights: all on row r (nothing to set on a plain one).
    const auto train_row = [&](int r) {
        if (rows == 0) return;
        std::vector<float> one(size_t(rows), 0.f);
        one[size_t(r)] = 1.f;
        net.set_style_mix(Tensor::from_vector(one, {rows}));
    };
    std::unique_ptr<Optimizer> adam = make_adam(flat.size(), dev, {o.learning_rate, 0.9, 0.999, 1e-8});

    int step = 0;  // the batch the next evaluation trains on
    PerceptualTerms last;
    const Objective_fn objective = [&](const Tensor& x, Tensor& g) {
        (void)x;  // flat.values() itself
        flat.scatter_values();
        train_row(row_of(step));
        const Tensor batch = photos.batch(step).to(dev);
        net.zero_grad();
        last = loss(net.forward(batch), batch, style_of(step));
        if (comm.size() == 1) {
            last.total.backward();
            flat.gather_gradients();
            g.copy_(flat.grads());
            return last.total.detach();
        }
        scale(last.total, part).backward();
        flat.gather_gradients();
        g.copy_(sum_over_ranks(comm, flat.grads()));
        // The terms as one process would print them: each rank's share of the batch mean, summed.
        double terms[3] = {part * last.total.item(), part * last.content.item(), part * last.style.item()};
        comm.all_reduce_sum(terms, 3);
        last.content = Tensor::scalar(terms[1], DType::F32, dev);
        last.style = Tensor::scalar(terms[2], DType::F32, dev);
        return Tensor::scalar(terms[0], DType::F32, dev);
    };

    if (adding)
        log << "train_style: adding style " << rows << " to " << o.from_model << " (" << rows - 1
            << " styles); training its norm rows only, " << flat.size() << " of its parameters, on " << dev.str();
    else
        log << "train_style: TransformerNet of widths " << o.widths[0] << "," << o.widths[1] << "," << o.widths[2] << ", "
            << flat.size() << " parameters on " << dev.str();
    log << "; " << photos.photos() << " photos in " << o.content_dir << ", batch " << o.batch_size << " at "
        << o.image_size << " px";
    if (!adding) log << "; " << S << " style" << (S > 1 ? "s" : "");
    if (comm.size() > 1) log << "; " << comm.describe() << ", rank 0 taking " << mine.end - mine.begin << " photos of each batch";
    log << "\n";

    // The sample of the network as it stands after `k` steps (the row step k trained), to --sample-dir and
    // the preview. Reads the parameters from the flat buffer; changes nothing the next step reads.
    const auto paint_sample = [&](int k) {
        if (!root || !sample_photo.defined() || (o.sample_dir.empty() && !preview)) return;
        NoGradGuard no_grad;
        flat.scatter_values();
        train_row(row_of(std::max(k - 1, 0)));
        const Image img = tensor_to_image(scale(net.forward(sample_photo.to(dev)), 1.0 / 255.0));
        if (!o.sample_dir.empty()) {
            char name[32];
            std::snprintf(name, sizeof name, "step-%06d.png", k);
            save_image(img, (std::filesystem::path(o.sample_dir) / name).string());
        }
        if (preview) {
            PreviewFrame f;
            f.iteration = k, f.total = o.iterations, f.width = img.width, f.height = img.height;
            f.rgb.resize(img.rgb.size());
            for (size_t i = 0; i < img.rgb.size(); ++i) f.rgb[i] = uint8_t(std::lround(std::clamp(img.rgb[i], 0.f, 1.f) * 255.f));
            preview->publish(std::move(f));
        }
    };
    // The losses of the batch evaluated last (step k's), to the preview's curves.
    const auto publish_terms = [&](int k, double total, double content, double style) {
        if (!preview) return;
        PreviewFrame f;
        f.iteration = k, f.total = o.iterations;
        f.terms = {{"content", content}, {"style", style}, {"total", total}};
        preview->publish(std::move(f));
    };

    int done = 0;
    if (!o.resume.empty()) {
        done = load_train_checkpoint(o.resume, fp, flat, *adam);
        if (done > o.iterations)
            throw Error("--resume " + o.resume + ": holds " + std::to_string(done) + " steps, more than --iterations " +
                        std::to_string(o.iterations));
        log << "resuming " << o.resume << " after step " << done << "\n";
        step = done + 1;  // the checkpoint's gradient is batch `done`'s
    } else {
        adam->begin(flat.values(), objective);  // evaluation of batch 0
        step = 1;
    }

    nlohmann::json records = nlohmann::json::array();
    TrainResult r;
    r.first_loss = adam->loss().item();
    const auto t0 = clock::now();
    // Seconds per step in the steady state: the first three steps of this run (or all but the last, in a
    // shorter one) are warm-up and not timed.
    const int warm_step = done + std::max(0, std::min(3, o.iterations - done - 1));
    auto t_warm = t0;
    // The last update evaluates nothing after it, so it is cheaper than a step: the rate is read after
    // each step that evaluates the next batch, and the summary keeps the last such reading.
    double last_per_step = 0;
    const auto per_step = [&] {
        return done > warm_step ? std::chrono::duration<double>(clock::now() - t_warm).count() / (done - warm_step) : 0.0;
    };
    const auto write_log = [&] {
        if (o.log_json.empty() || !root) return;
        write_file_atomic(o.log_json, nlohmann::json{{"steps", records}, {"styles", o.style_images}}.dump(1) + "\n");
    };
    // Steps done: `done` updates. Each update uses the gradient of the batch evaluated last; all but the
    // final one evaluate the next batch.
    while (done < o.iterations) {
        const bool evaluate_next = done + 1 < o.iterations;
        adam->step(flat.values(), objective, evaluate_next);
        ++done;
        if (evaluate_next) ++step;
        if (done == warm_step) t_warm = clock::now();
        if (evaluate_next) last_per_step = per_step();
        const bool report = (o.print_iter > 0 && done % o.print_iter == 0) || done == o.iterations;
        if (report && evaluate_next) {
            const double secs = std::chrono::duration<double>(clock::now() - t0).count(), per = last_per_step;
            // Each read is a device sync on the GPU: once each.
            const double f = adam->loss().item(), content = last.content.item(), style = last.style.item();
            char line[240];
            std::snprintf(line, sizeof line, "step %d/%d  loss %.4g (content %.4g, style %.4g)  %.3f s/step  ETA %s  %s\n",
                          done, o.iterations, f, content, style, per, Progress::human_seconds(per * (o.iterations - done)).c_str(),
                          progress_bar(done, o.iterations).c_str());
            log << line << std::flush;
            records.push_back({{"step", done}, {"seconds", secs}, {"loss", f}, {"content", content}, {"style", style}});
            publish_terms(done, f, content, style);
        }
        if ((o.save_iter > 0 && done % o.save_iter == 0) || done == o.iterations) paint_sample(done);
        // Ranks stop together (one of them seeing Ctrl-C is enough), or the others would wait in the
        // next step's all-reduce.
        double stop_votes = stop_requested() ? 1 : 0;
        if (comm.size() > 1) comm.all_reduce_sum(&stop_votes, 1);
        const bool stop = stop_votes > 0;
        if (!o.checkpoint.empty() && evaluate_next && ((o.save_iter > 0 && done % o.save_iter == 0) || stop) && root) {
            save_train_checkpoint(o.checkpoint, fp, done, flat, *adam);
            write_log();
        }
        if (stop && done < o.iterations) {
            r.stopped = true;
            log << "stopped after step " << done << (o.checkpoint.empty() ? "" : "; --resume " + o.checkpoint + " continues") << "\n";
            break;
        }
    }
    if (preview) {
        preview->finish(r.stopped ? "stopped after step " + std::to_string(done) : "trained " + std::to_string(done) + " steps",
                        false);
        preview->linger(3.0, [] { return stop_requested(); });  // an open page gets to show the end
    }
    flat.scatter_values();
    r.steps = done;
    r.last_loss = adam->loss().item();
    r.seconds_per_step = last_per_step;
    write_log();
    if (r.stopped) return r;

    if (!root) return r;
    weights::WeightFile model = net.state_dict();
    model.metadata["nst.model"] = "TransformerNet";
    model.metadata["nst.styles"] = model_metadata_styles(o, earlier_styles);
    model.metadata["nst.input"] = "RGB 0..255";
    model.metadata["nst.recipe"] = nlohmann::json(fp).dump();
    model.metadata["nst.steps"] = std::to_string(done);
    weights::write_safetensors(o.output_model, model);
    log << "wrote " << o.output_model << " (" << done << " steps)\n";
    return r;
}

}  // namespace nst
