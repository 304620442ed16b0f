// The training photos: a folder of pictures served as batches of random square crops, in an order fixed
// by a seed, decoded on a background thread so that a training step never waits for JPEG decoding.
//
// Contract:
//   - The folder (searched recursively) holds the pictures stb_image reads (.jpg .jpeg .png .bmp .tga
//     .gif .ppm .pgm); names are sorted, so the same folder gives the same order anywhere. A folder with
//     none of them is an Error naming --content-dir.
//   - Batch k is a pure function of (the files, seed, k): items kB .. kB+B-1 of an endless sequence of
//     seeded permutations of the photos (one permutation per epoch); item i is a square crop of side
//     min(width, height) at a position drawn from (seed, i), resized to image_size. So a run resumed at
//     step k reads exactly the batches an uninterrupted run would have read.
//   - A file that cannot be decoded is skipped with one warning naming it (its slot takes the next photo
//     of the permutation); when none can be decoded, batch() throws naming --content-dir.
//   - Batches are (B, 3, S, S) float32 on the CPU, RGB in 0..255 (TransformerNet's range).
#pragma once
#include <cstdint>
#include <future>
#include <iosfwd>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace nst {

class PhotoLoader {
  public:
    PhotoLoader(const std::string& dir, int image_size, int batch_size, uint64_t seed, std::ostream& warnings);
    ~PhotoLoader();
    PhotoLoader(const PhotoLoader&) = delete;
    PhotoLoader& operator=(const PhotoLoader&) = delete;

    // Batch k; starts decoding batch k + 1 in the background before returning.
    Tensor batch(int64_t k);
    // From now on, batch k is only its items [begin, begin + count) (count, 3, S, S): one rank's share of
    // a batch spread over processes (dist/). Call before the first batch().
    void set_slice(int begin, int count);

    size_t photos() const { return files_.size(); }
    const std::vector<std::string>& files() const { return files_; }

    // The photo item i of the endless sequence stands for (an index into files()), before skipping.
    size_t item_photo(int64_t i) const;

  private:
    Tensor decode_batch(int64_t k);
    bool crop_into(int64_t item, size_t photo, float* dst);  // false when the photo cannot be decoded

    std::vector<std::string> files_;
    std::string dir_;
    int size_, batch_, slice_begin_ = 0, slice_count_;
    uint64_t seed_;
    std::ostream& warnings_;
    std::mutex mu_;                 // guards bad_ (the decoding thread and the caller both skip)
    std::set<size_t> bad_;          // photos that failed to decode, warned about once
    std::future<Tensor> ahead_;     // batch ahead_k_, being decoded
    int64_t ahead_k_ = -1;
    mutable std::mutex perm_mu_;    // the last epoch's permutation, drawn once (both threads ask for items)
    mutable uint64_t perm_epoch_ = UINT64_MAX;
    mutable std::vector<size_t> perm_;
};

// The sorted list of pictures under dir (what PhotoLoader serves); an Error naming `flag` when dir is
// missing, not a folder, or holds none.
std::vector<std::string> list_photos(const std::string& dir, const std::string& flag);
// The first picture of the folder `name` beside dir (photos/train -> photos/val), or "" when there is none.
std::string first_photo_beside(const std::string& dir, const std::string& name);

}  // namespace nst
