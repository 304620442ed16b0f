// Colour transforms (contract in color.h). 3x3 matrix work on the host: images are small.
#include "media/color.h"

#include <cstdint>
#include <array>
#include <cmath>

namespace nst {

namespace {

using Mat3 = std::array<std::array<double, 3>, 3>;

// NTSC YIQ (the transform neural-style's --original-colors uses via image.rgb2yiq).
const Mat3 kRgbToYiq{{{0.299, 0.587, 0.114}, {0.595716, -0.274453, -0.321263}, {0.211456, -0.522591, 0.311135}}};

Mat3 inverse(const Mat3& m) {
    const double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                       m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    Mat3 r{};
    r[0][0] = (m[1][1] * m[2][2] - m[1][2] * m[2][1]) / det;
    r[0][1] = (m[0][2] * m[2][1] - m[0][1] * m[2][2]) / det;
    r[0][2] = (m[0][1] * m[1][2] - m[0][2] * m[1][1]) / det;
    r[1][0] = (m[1][2] * m[2][0] - m[1][0] * m[2][2]) / det;
    r[1][1] = (m[0][0] * m[2][2] - m[0][2] * m[2][0]) / det;
    r[1][2] = (m[0][2] * m[1][0] - m[0][0] * m[1][2]) / det;
    r[2][0] = (m[1][0] * m[2][1] - m[1][1] * m[2][0]) / det;
    r[2][1] = (m[0][1] * m[2][0] - m[0][0] * m[2][1]) / det;
    r[2][2] = (m[0][0] * m[1][1] - m[0][1] * m[1][0]) / det;
    return r;
}

Mat3 mul(const Mat3& a, const Mat3& b) {
    Mat3 r{};
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j)
                for (int k = 0; k < 3; ++k) r[i][j] += a[i][k] * b[k][j];
    return r;
}

void check_image(const Tensor& t, const char* op) {
    check_defined(t, op, "image");
    check_ndim(t, 4, op, "image");
    if (t.dim(0) != 1 || t.dim(1) != 3 || t.dtype() != DType::F32 || !t.device().is_cpu())
        throw Error(std::string(op) + ": needs a (1,3,H,W) float32 CPU image, got " + t.str());
}

// y = M x + b per pixel.
Tensor affine(const Tensor& x, const Mat3& m, const std::array<double, 3>& b) {
    Tensor y = Tensor::empty(x.shape());
    const int64_t n = x.dim(2) * x.dim(3);
    const float* s = x.data<float>();
    float* d = y.data<float>();
    for (int64_t i = 0; i < n; ++i)
        for (int r = 0; r < 3; ++r)
            d[r * n + i] = float(m[r][0] * s[i] + m[r][1] * s[n + i] + m[r][2] * s[2 * n + i] + b[size_t(r)]);
    return y;
}

void mean_cov(const Tensor& x, std::array<double, 3>& mu, Mat3& cov) {
    const int64_t n = x.dim(2) * x.dim(3);
    const float* s = x.data<float>();
    mu = {0, 0, 0};
    for (int c = 0; c < 3; ++c) {
        for (int64_t i = 0; i < n; ++i) mu[size_t(c)] += s[c * n + i];
        mu[size_t(c)] /= double(n);
    }
    cov = {};
    for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) {
            double acc = 0;
            for (int64_t i = 0; i < n; ++i) acc += (s[a * n + i] - mu[size_t(a)]) * (s[b * n + i] - mu[size_t(b)]);
            cov[a][b] = acc / double(n);
        }
    for (int c = 0; c < 3; ++c) cov[c][c] += 1e-5;  // a flat image has a singular covariance
}

// Symmetric matrix power via Jacobi eigen-decomposition (3x3, converges in a few sweeps).
Mat3 sym_pow(Mat3 a, double e) {
    Mat3 v{{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}};
    for (int sweep = 0; sweep < 50; ++sweep) {
        double off = std::abs(a[0][1]) + std::abs(a[0][2]) + std::abs(a[1][2]);
        if (off < 1e-15) break;
        for (int p = 0; p < 2; ++p)
            for (int q = p + 1; q < 3; ++q) {
                if (std::abs(a[p][q]) < 1e-300) continue;
                const double theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
                const double t = std::copysign(1.0, theta) / (std::abs(theta) + std::sqrt(theta * theta + 1));
                const double c = 1 / std::sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < 3; ++k) {  // a = Jᵀ a J
                    const double akp = a[k][p], akq = a[k][q];
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for (int k = 0; k < 3; ++k) {
                    const double apk = a[p][k], aqk = a[q][k];
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for (int k = 0; k < 3; ++k) {
                    const double vkp = v[k][p], vkq = v[k][q];
                    v[k][p] = c * vkp - s * vkq;
                    v[k][q] = s * vkp + c * vkq;
                }
            }
    }
    Mat3 r{};
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j)
            for (int k = 0; k < 3; ++k) r[i][j] += v[i][k] * std::pow(std::max(a[k][k], 1e-12), e) * v[j][k];
    return r;
}

}  // namespace

Tensor rgb_to_yiq(const Tensor& rgb) {
    check_image(rgb, "rgb_to_yiq");
    return affine(rgb, kRgbToYiq, {0, 0, 0});
}

Tensor yiq_to_rgb(const Tensor& yiq) {
    check_image(yiq, "yiq_to_rgb");
    static const Mat3 inv = inverse(kRgbToYiq);
    return affine(yiq, inv, {0, 0, 0});
}

Tensor original_colors(const Tensor& output, const Tensor& content) {
    check_image(output, "original_colors");
    check_image(content, "original_colors");
    if (output.shape() != content.shape())
        throw Error("original_colors: output " + output.str() + " and content " + content.str() + " differ in size");
    Tensor o = rgb_to_yiq(output), c = rgb_to_yiq(content);
    const int64_t n = o.dim(2) * o.dim(3);
    std::copy(o.data<float>(), o.data<float>() + n, c.data<float>());  // Y from the output, I and Q from the content
    return yiq_to_rgb(c);
}

Tensor match_color_histogram(const Tensor& style, const Tensor& content) {
    check_image(style, "match_color_histogram");
    check_image(content, "match_color_histogram");
    std::array<double, 3> ms, mc;
    Mat3 cs, cc;
    mean_cov(style, ms, cs);
    mean_cov(content, mc, cc);
    const Mat3 a = mul(sym_pow(cc, 0.5), sym_pow(cs, -0.5));
    std::array<double, 3> b{};
    for (int r = 0; r < 3; ++r) b[size_t(r)] = mc[size_t(r)] - (a[r][0] * ms[0] + a[r][1] * ms[1] + a[r][2] * ms[2]);
    return affine(style, a, b);
}

Tensor luminance_image(const Tensor& rgb) {
    check_image(rgb, "luminance_image");
    const Mat3 grey{{{0.299, 0.587, 0.114}, {0.299, 0.587, 0.114}, {0.299, 0.587, 0.114}}};
    return affine(rgb, grey, {0, 0, 0});
}

Tensor match_luminance(const Tensor& style_grey, const Tensor& content_grey) {
    check_image(style_grey, "match_luminance");
    check_image(content_grey, "match_luminance");
    std::array<double, 3> ms, mc;
    Mat3 cs, cc;
    mean_cov(style_grey, ms, cs);
    mean_cov(content_grey, mc, cc);
    const double k = std::sqrt(cc[0][0] / cs[0][0]);  // std ratio of the (identical) channels
    const Mat3 a{{{k, 0, 0}, {0, k, 0}, {0, 0, k}}};
    return affine(style_grey, a, {mc[0] - k * ms[0], mc[1] - k * ms[1], mc[2] - k * ms[2]});
}

}  // namespace nst
