// The arbitrary-style predictor (contract in arbitrary_style.h).
#include "stylize/arbitrary_style.h"

#include <algorithm>
#include <filesystem>

#include "base/error.h"
#include "weights/onnx_model.h"
#include "weights/weight_file.h"

namespace nst {

std::string predictor_beside(const std::string& transform_path) {
    const std::filesystem::path p(transform_path);
    std::string name = p.filename().string();
    const size_t at = name.rfind("transform");
    if (at == std::string::npos) return "";
    name.replace(at, 9, "predict");
    return (p.parent_path() / name).string();
}

OnnxTensor style_input_for(const Image& painting, int side) {
    if (painting.width < 1 || painting.height < 1) throw Error("an empty style picture");
    const int s = std::min(painting.width, painting.height);
    const int x0 = (painting.width - s) / 2, y0 = (painting.height - s) / 2;
    Image square;
    square.width = square.height = s;
    square.rgb.resize(size_t(s) * size_t(s) * 3);
    for (int y = 0; y < s; ++y)
        std::copy_n(painting.rgb.begin() + (ptrdiff_t(y0 + y) * painting.width + x0) * 3, size_t(s) * 3,
                    square.rgb.begin() + ptrdiff_t(y) * s * 3);
    const Image sized = s == side ? square : resize(square, side, side);
    OnnxTensor t;
    t.shape = {1, side, side, 3};
    t.f = sized.rgb;  // interleaved RGB rows are (H, W, 3): channels-last as it is
    return t;
}

OnnxTensor predict_style_vector(const std::string& predictor, const Image& painting, const std::string& flag) {
    const std::string label = flag + " " + predictor;
    try {
        const weights::OnnxModel model = weights::read_onnx(predictor);
        if (model.inputs.size() != 1 || model.outputs.size() != 1)
            throw Error("a style predictor has one input (the painting) and one output (the style vector)");
        const auto& in = model.inputs[0];
        if (in.dims.size() != 4 || in.dims[3] != 3 || !weights::is_float(in.type))
            throw Error("input '" + in.name + "' is " + weights::shape_to_string(in.dims) + ", not a channels-last picture (1,H,W,3)");
        const int side = in.dims[1] > 0 ? int(in.dims[1]) : 256;
        if (in.dims[2] > 0 && in.dims[2] != side) throw Error("input '" + in.name + "' is not square");
        auto out = eval_host_graph(model, {{in.name, style_input_for(painting, side)}});
        OnnxTensor v = out.at(model.outputs[0].name);
        if (!v.floating() || v.numel() < 1) throw Error("the style vector is not float");
        return v;
    } catch (const Error& e) {
        const std::string what = e.what();
        if (what.rfind(predictor, 0) == 0) throw Error(flag + " " + what);
        throw Error(label + ": " + what);
    }
}

}  // namespace nst
