// PhotoLoader (contract in photo_loader.h). Random numbers come from splitmix64 on (seed, what, index), not
// from <random>'s distributions, whose results differ between standard libraries: the order and the crops
// are the same on every platform.
#include "train/photo_loader.h"

#include <algorithm>
#include <filesystem>
#include <ostream>

#include "media/image.h"

namespace nst {

namespace {

uint64_t splitmix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}
uint64_t draw(uint64_t seed, uint64_t what, uint64_t index) { return splitmix(splitmix(seed ^ what) + index); }
uint64_t below(uint64_t r, uint64_t n) { return n ? r % n : 0; }  // bias < n / 2^64: immaterial here

bool is_picture(const std::filesystem::path& p) {
    std::string e = p.extension().string();
    std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    for (const char* ok : {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tga", ".gif", ".ppm", ".pgm"})
        if (e == ok) return true;
    return false;
}

}  // namespace

std::vector<std::string> list_photos(const std::string& dir, const std::string& flag) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(dir, ec)) throw Error(flag + " " + dir + ": no such folder");
    if (!fs::is_directory(dir, ec)) throw Error(flag + " " + dir + ": not a folder");
    std::vector<std::string> files;
    for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
        if (it->is_regular_file(ec) && is_picture(it->path())) files.push_back(it->path().string());
    if (ec) throw Error(flag + " " + dir + ": cannot be read (" + ec.message() + ")");
    if (files.empty())
        throw Error(flag + " " + dir + ": holds no pictures (.jpg .jpeg .png .webp .bmp .tga .gif .ppm .pgm)");
    std::sort(files.begin(), files.end());
    return files;
}

std::string first_photo_beside(const std::string& dir, const std::string& name) {
    namespace fs = std::filesystem;
    fs::path d = fs::path(dir).lexically_normal();
    if (d.filename().empty()) d = d.parent_path();  // "photos/train/" names the folder train too
    const fs::path beside = d.parent_path() / name;
    std::error_code ec;
    if (dir.empty() || !fs::is_directory(beside, ec)) return "";
    try {
        return list_photos(beside.string(), name).front();
    } catch (const Error&) {
        return "";
    }
}

PhotoLoader::PhotoLoader(const std::string& dir, int image_size, int batch_size, uint64_t seed, std::ostream& warnings)
    : files_(list_photos(dir, "--content-dir")), dir_(dir), size_(image_size), batch_(batch_size), slice_count_(batch_size), seed_(seed),
      warnings_(warnings) {
    if (image_size < 16) throw Error("--image-size must be at least 16, got " + std::to_string(image_size));
    if (batch_size < 1) throw Error("--batch-size must be at least 1, got " + std::to_string(batch_size));
}

PhotoLoader::~PhotoLoader() {
    if (ahead_.valid()) ahead_.wait();
}

size_t PhotoLoader::item_photo(int64_t i) const {
    // Item i is position i mod n of epoch i / n's permutation (Fisher-Yates, drawn from (seed, epoch)).
    const uint64_t n = files_.size(), epoch = uint64_t(i) / n, pos = uint64_t(i) % n;
    std::lock_guard<std::mutex> lock(perm_mu_);
    if (perm_epoch_ != epoch) {
        perm_.resize(n);
        for (size_t j = 0; j < n; ++j) perm_[j] = j;
        for (uint64_t j = n - 1; j > 0; --j) std::swap(perm_[j], perm_[below(draw(seed_, 1 + epoch, j), j + 1)]);
        perm_epoch_ = epoch;
    }
    return perm_[pos];
}

bool PhotoLoader::crop_into(int64_t item, size_t photo, float* dst) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (bad_.count(photo)) return false;
    }
    Image img;
    try {
        img = load_image(files_[photo]);
    } catch (const Error& e) {
        std::lock_guard<std::mutex> lock(mu_);
        if (bad_.insert(photo).second) warnings_ << "train_style: skipping " << files_[photo] << ": " << e.what() << "\n";
        return false;
    }
    const int side = std::min(img.width, img.height);
    const int x0 = int(below(draw(seed_, 0x78, uint64_t(item)), uint64_t(img.width - side + 1)));
    const int y0 = int(below(draw(seed_, 0x79, uint64_t(item)), uint64_t(img.height - side + 1)));
    Image crop;
    crop.width = crop.height = side;
    crop.rgb.resize(size_t(side) * side * 3);
    for (int y = 0; y < side; ++y)
        std::copy_n(img.rgb.begin() + (int64_t(y0 + y) * img.width + x0) * 3, size_t(side) * 3,
                    crop.rgb.begin() + int64_t(y) * side * 3);
    const Image r = side == size_ ? crop : resize(crop, size_, size_);
    const int64_t plane = int64_t(size_) * size_;
    for (int64_t p = 0; p < plane; ++p)
        for (int c = 0; c < 3; ++c) dst[c * plane + p] = 255.f * r.rgb[size_t(p * 3 + c)];
    return true;
}

Tensor PhotoLoader::decode_batch(int64_t k) {
    Tensor out = Tensor::empty({slice_count_, 3, size_, size_});
    const int64_t per = 3 * int64_t(size_) * size_;
    for (int b = 0; b < slice_count_; ++b) {
        const int64_t item = k * batch_ + slice_begin_ + b;
        const size_t first = item_photo(item);
        bool done = false;
        // A photo that cannot be decoded gives its slot to the next file by name (wrapping), so the batch
        // is still a function of k alone.
        for (size_t step = 0; step < files_.size() && !done; ++step) {
            const size_t photo = (first + step) % files_.size();
            done = crop_into(item, photo, out.data<float>() + b * per);
        }
        if (!done) throw Error("--content-dir " + dir_ + ": none of its " + std::to_string(files_.size()) + " pictures could be decoded");
    }
    return out;
}

void PhotoLoader::set_slice(int begin, int count) {
    if (begin < 0 || count < 1 || begin + count > batch_)
        throw Error("PhotoLoader: slice [" + std::to_string(begin) + ", " + std::to_string(begin + count) +
                    ") of a batch of " + std::to_string(batch_));
    if (ahead_.valid()) ahead_.wait();
    ahead_ = {};
    slice_begin_ = begin, slice_count_ = count;
}

Tensor PhotoLoader::batch(int64_t k) {
    Tensor t;
    if (ahead_.valid() && ahead_k_ == k) {
        t = ahead_.get();  // rethrows what the background decoding threw
    } else {
        if (ahead_.valid()) ahead_.wait();
        ahead_ = {};
        t = decode_batch(k);
    }
    ahead_k_ = k + 1;
    ahead_ = std::async(std::launch::async, [this, k] { return decode_batch(k + 1); });
    return t;
}

}  // namespace nst
