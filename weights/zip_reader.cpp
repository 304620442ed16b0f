// Zip central-directory reader (contract in zip_reader.h).
// Layout reference: PKWARE APPNOTE.TXT, sections 4.3.7 (local header), 4.3.12 (central directory),
// 4.3.14-16 (ZIP64 end records), 4.5.3 (ZIP64 extra field).
#include "weights/zip_reader.h"

#include "base/error.h"
#include "weights/weight_file.h"
#include <cstdint>

namespace nst::weights {

namespace {
uint64_t le(const std::string& b, uint64_t off, int n) { return read_le(b.data() + off, n); }
}  // namespace

bool looks_like_zip(const std::string& b) { return b.size() >= 4 && b.compare(0, 4, "PK\x03\x04") == 0; }

ZipArchive::ZipArchive(const std::string& b, std::string name) : bytes_(b), name_(std::move(name)) {
    auto fail = [&](const std::string& what) -> Error { return Error(name_ + ": broken zip archive: " + what); };
    auto need = [&](uint64_t off, uint64_t len, const char* what) {
        if (off > b.size() || len > b.size() - off) throw fail(std::string(what) + " lies past the end of the file (truncated?)");
    };
    // End of central directory: 22 bytes plus a comment of up to 64 KiB, at the very end.
    if (b.size() < 22) throw fail("too short to be a zip file");
    uint64_t eocd = b.size() - 22;
    const uint64_t lowest = b.size() > 22 + 65535 ? b.size() - 22 - 65535 : 0;
    while (le(b, eocd, 4) != 0x06054b50) {
        if (eocd == lowest) throw fail("no end-of-central-directory record (truncated?)");
        --eocd;
    }
    uint64_t count = le(b, eocd + 10, 2), cd_size = le(b, eocd + 12, 4), cd_off = le(b, eocd + 16, 4);
    if (count == 0xffff || cd_size == 0xffffffff || cd_off == 0xffffffff) {
        if (eocd < 20 || le(b, eocd - 20, 4) != 0x07064b50) throw fail("ZIP64 locator missing");
        const uint64_t z64 = le(b, eocd - 20 + 8, 8);
        need(z64, 56, "ZIP64 end record");
        if (le(b, z64, 4) != 0x06064b50) throw fail("bad ZIP64 end record");
        count = le(b, z64 + 32, 8);
        cd_size = le(b, z64 + 40, 8);
        cd_off = le(b, z64 + 48, 8);
    }
    need(cd_off, cd_size, "central directory");
    uint64_t p = cd_off;
    for (uint64_t i = 0; i < count; ++i) {
        need(p, 46, "central directory entry");
        if (le(b, p, 4) != 0x02014b50) throw fail("bad central directory entry signature");
        const uint16_t method = uint16_t(le(b, p + 10, 2));
        uint64_t csize = le(b, p + 20, 4), usize = le(b, p + 24, 4);
        const uint64_t nlen = le(b, p + 28, 2), xlen = le(b, p + 30, 2), clen = le(b, p + 32, 2);
        uint64_t local = le(b, p + 42, 4);
        need(p + 46, nlen + xlen + clen, "central directory entry name");
        const std::string entry = b.substr(size_t(p + 46), size_t(nlen));
        // ZIP64 extra field: 64-bit values for whichever 32-bit fields are saturated, in this order.
        for (uint64_t x = p + 46 + nlen; x + 4 <= p + 46 + nlen + xlen;) {
            const uint64_t id = le(b, x, 2), len = le(b, x + 2, 2);
            if (x + 4 + len > p + 46 + nlen + xlen) break;
            if (id == 1) {
                uint64_t q = x + 4;
                auto take = [&](uint64_t& field) {
                    if (field == 0xffffffff && q + 8 <= x + 4 + len) { field = le(b, q, 8); q += 8; }
                };
                take(usize);
                take(csize);
                take(local);
            }
            x += 4 + len;
        }
        need(local, 30, "local header");
        if (le(b, local, 4) != 0x04034b50) throw fail("bad local header for '" + entry + "'");
        const uint64_t data = local + 30 + le(b, local + 26, 2) + le(b, local + 28, 2);
        need(data, csize, ("data of '" + entry + "'").c_str());
        if (method == 0 && csize != usize) throw fail("stored entry '" + entry + "' has differing sizes");
        entries_[entry] = {data, csize, method};
        p += 46 + nlen + xlen + clen;
    }
}

std::vector<std::string> ZipArchive::names() const {
    std::vector<std::string> r;
    for (const auto& [n, e] : entries_) r.push_back(n);
    return r;
}

std::string_view ZipArchive::read(const std::string& entry) const {
    auto it = entries_.find(entry);
    if (it == entries_.end()) throw Error(name_ + ": zip archive has no entry '" + entry + "'");
    if (it->second.method != 0)
        throw Error(name_ + ": entry '" + entry + "' is compressed (method " + std::to_string(it->second.method) +
                    "); torch.save writes stored entries, so re-save the checkpoint with torch");
    return std::string_view(bytes_).substr(size_t(it->second.data_offset), size_t(it->second.size));
}

}  // namespace nst::weights
