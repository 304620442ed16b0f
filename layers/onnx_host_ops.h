// The ONNX operators on small host arrays: the shape arithmetic an exporter leaves in a graph (Constant,
// Shape, Concat, Reshape, Slice, ...) and the parameter arithmetic that does not touch the image (a style
// vector mixing rows of scale and shift, weights dequantized from int8, a style vector through 1x1 convs). layers/onnx_net folds these at
// load where their inputs are constants and runs the rest once per forward, before the image ops need them.
// Semantics follow the ONNX operator documents (numpy broadcasting, negative axes, INT64_MAX as "to the
// end" in Slice); floats are computed in double and stored as float. Any other op, or an attribute value
// outside what is implemented, is an nst::Error naming the node.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "weights/onnx_model.h"

namespace nst {

using weights::OnnxNode;
using weights::OnnxTensor;

// The most elements a host array may have (ConstantOfShape, Expand of a hostile shape): 64 M.
constexpr int64_t kOnnxHostMaxElements = int64_t(1) << 26;

bool onnx_host_op_known(const std::string& op);

// Runs node n on its inputs (nullptr for an optional input left out); returns its outputs in order.
std::vector<OnnxTensor> eval_host_node(const OnnxNode& n, const std::vector<const OnnxTensor*>& in, int64_t opset);

// Broadcast shape of a and b (numpy rules) or an Error mentioning `what`.
std::vector<int64_t> broadcast_shapes(const std::vector<int64_t>& a, const std::vector<int64_t>& b, const std::string& what);

OnnxTensor host_scalar(float v);

// A whole graph on the host, node by node (a small network run once, e.g. the arbitrary-style predictor on
// a 256 px style picture): the inputs by name (checked against the graph's declared shapes, -1 any),
// returns the graph outputs by name. Errors name the file and the node.
std::map<std::string, OnnxTensor> eval_host_graph(const weights::OnnxModel& model, const std::map<std::string, OnnxTensor>& inputs);

}  // namespace nst
