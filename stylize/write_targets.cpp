// Write targets checked before work (contract in write_targets.h).
#include "stylize/write_targets.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "base/error.h"

namespace nst {

namespace fs = std::filesystem;

namespace {

// Two paths name the same file: the same inode when both exist, else the same canonical path (a
// target that does not exist yet may still be an input reached through a symlinked folder).
bool same_file(const std::string& a, const std::string& b) {
    std::error_code ea, eb;
    const bool a_exists = fs::exists(a, ea), b_exists = fs::exists(b, eb);
    if (a_exists && b_exists) {
        std::error_code e;
        return fs::equivalent(a, b, e);
    }
    std::error_code e1, e2;
    const fs::path ca = fs::weakly_canonical(a, e1), cb = fs::weakly_canonical(b, e2);
    return !e1 && !e2 && ca == cb;
}

void check_folder(const PathFlag& t) {
    const std::string where = t.flag + " " + t.path;
    std::error_code e;
    if (fs::is_directory(t.path, e)) throw Error(where + ": is a folder; name a file in it");
    fs::path parent = fs::path(t.path).parent_path();
    if (parent.empty()) parent = ".";
    if (!fs::exists(parent, e)) throw Error(where + ": the folder " + parent.string() + " does not exist");
    if (!fs::is_directory(parent, e)) throw Error(where + ": " + parent.string() + " is not a folder");
    // Create and remove a file beside it: catches read-only file systems, which access() run as root
    // would not.
    const std::string probe = (parent / (".nst-write-test-" + std::to_string(::getpid()))).string();
    std::ofstream f(probe);
    if (!f) throw Error(where + ": cannot write in the folder " + parent.string() + " (no permission or read-only)");
    f.close();
    std::remove(probe.c_str());
}

}  // namespace

void check_write_targets(const std::vector<PathFlag>& targets, const std::vector<PathFlag>& inputs) {
    for (size_t i = 0; i < targets.size(); ++i) {
        const PathFlag& t = targets[i];
        if (t.path.empty()) continue;
        for (const PathFlag& in : inputs)
            if (!in.path.empty() && in.flag != t.may_be && same_file(t.path, in.path))
                throw Error(t.flag + " " + t.path + " is the same file as " + in.flag + " " + in.path +
                            ": refusing to overwrite an input; choose another name");
        for (size_t j = 0; j < i; ++j)
            if (!targets[j].path.empty() && same_file(t.path, targets[j].path))
                throw Error(t.flag + " " + t.path + " is the same file as " + targets[j].flag + " " + targets[j].path +
                            ": each output needs its own file");
        check_folder(t);
    }
}

}  // namespace nst
