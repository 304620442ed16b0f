// A minimal reader for the zip archives torch.save writes (torch >= 1.6): uncompressed ("stored")
// entries, ZIP64 records understood. Every offset is checked against the archive before use.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace nst::weights {

class ZipArchive {
  public:
    // `bytes` must outlive the archive; `name` is used in error messages.
    ZipArchive(const std::string& bytes, std::string name);
    std::vector<std::string> names() const;
    bool contains(const std::string& entry) const { return entries_.count(entry) != 0; }
    std::string_view read(const std::string& entry) const;  // throws if absent or compressed

  private:
    struct Entry { uint64_t data_offset, size; uint16_t method; };
    const std::string& bytes_;
    std::string name_;
    std::map<std::string, Entry> entries_;
};

bool looks_like_zip(const std::string& bytes);

}  // namespace nst::weights
