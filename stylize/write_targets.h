// The files a stylize run writes, checked before any work: none may be an input (compared by file
// identity, so a symlink, a hard link or another spelling of the same path is caught), none may be a
// folder or sit in a folder that is missing or cannot be written, and no two may be the same file.
// A refusal is an Error naming the flag, the path and what is wrong (issue #13: inputs are never
// overwritten, and a run never fails after its work for a reason it could have seen at the start).
#pragma once
#include <string>
#include <vector>

namespace nst {

struct PathFlag {
    std::string flag;    // e.g. "--output-image"
    std::string path;    // empty: not given (skipped)
    std::string may_be;  // for a target: the one input flag it may overwrite (the checkpoint: "--resume")
};

void check_write_targets(const std::vector<PathFlag>& targets, const std::vector<PathFlag>& inputs);

}  // namespace nst
