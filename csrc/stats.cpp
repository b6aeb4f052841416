// Per-tile low-level statistics of a uint8 image (the C++ backend of tripled_fast.scoring.stats).
//
// One tile = the region [y, min(y+size, H)) x [x, min(x+size, W)) of the integer BT.601
// luminance Y8 = (77 R + 150 G + 29 B + 128) >> 8, processed alone with replicate padding.
// Outputs per tile, in this column order (float32):
//   mean, var, entropy, grad_energy, lap_var, interp_err
// The definitions (and the float64 oracle) live in tripled_fast/scoring/stats.py.
//
// Exactness: the histogram, the Sobel / Laplacian sums and the interpolation differences are
// computed in integers (the bilinear weights of a factor-f round trip are multiples of 1/(2f)
// and the box average a multiple of 1/f^2, so 4 f^4 * up(down(Y)) is an integer); only the
// final divisions and the entropy's logarithms are floating point (double).
//
// Parallelism: OpenMP over tiles (dynamic schedule), one workspace per thread; inner loops are
// plain contiguous integer loops the compiler vectorises (no -march flags: portable wheels).
// Overlapping RGB tiles first share one luminance plane (see run_tiles).

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace nb = nanobind;

// Portable wheels are compiled for the baseline ISA; on x86-64 Linux (glibc ifunc) GCC also
// emits an AVX2 clone of the per-tile kernel and picks it at load time when the CPU has AVX2.
#if !defined(TF_NO_TARGET_CLONES) && defined(__GNUC__) && !defined(__clang__) && \
    defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__)
#define TF_TARGET_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define TF_TARGET_CLONES
#endif

namespace {

constexpr int kNumStats = 6;
constexpr int kBins = 256;
constexpr int kMaxInterpScale = 16;  // 4 f^4 * 255 stays inside int32
constexpr int kColChunk = 1024;      // columns per int32 partial sum (|Gx|^2+|Gy|^2 <= 2080800)

// Scratch buffers reused by one thread across tiles.
struct Workspace {
    std::vector<int16_t> pad;     // (h + 2) x (w + 2) replicate-padded Y8
    std::vector<int32_t> colsum;  // wc sums of f rows
    std::vector<int32_t> bsum;    // Hd x Wd block sums of the f x f box
    std::vector<int32_t> horiz;   // Hd x wc horizontally interpolated block sums (scale 2f)
    int32_t hist4[4 * kBins];     // interleaved partial histograms
    int32_t hist[kBins];
};

// Bilinear source index and integer weights (scale 2f) of output index i for a factor-f
// upsample with half-pixel centres and edge clamping (align_corners=False):
// src = (i + 0.5) / f - 0.5 = (2i + 1 - f) / (2f), clamped at 0; i1 = min(i0 + 1, n_in - 1).
inline void bilinear_tap(int i, int f, int n_in, int32_t& i0, int32_t& i1, int32_t& w0,
                         int32_t& w1) {
    const int num = 2 * i + 1 - f;
    int lam = 0;
    i0 = 0;
    if (num > 0) {
        i0 = num / (2 * f);
        lam = num - i0 * 2 * f;
    }
    i1 = std::min(i0 + 1, n_in - 1);
    w0 = 2 * f - lam;
    w1 = lam;
}

// Y8 of the tile into the padded buffer and its histogram.
TF_TARGET_CLONES void load_luma(const uint8_t* __restrict img, int64_t W, int C, int y0, int x0,
                                int h, int w, Workspace& ws) {
    const int pw = w + 2;
    ws.pad.resize(static_cast<size_t>(h + 2) * pw);
    int32_t* __restrict hist4 = ws.hist4;
    std::fill(hist4, hist4 + 4 * kBins, 0);
    int16_t* __restrict pad = ws.pad.data();
    for (int i = 0; i < h; ++i) {
        const uint8_t* __restrict src = img + ((static_cast<int64_t>(y0) + i) * W + x0) * C;
        int16_t* __restrict dst = pad + static_cast<size_t>(i + 1) * pw + 1;
        if (C == 3) {
#pragma omp simd
            for (int j = 0; j < w; ++j) {
                const int r = src[3 * j], g = src[3 * j + 1], b = src[3 * j + 2];
                dst[j] = static_cast<int16_t>((77 * r + 150 * g + 29 * b + 128) >> 8);
            }
        } else {
            for (int j = 0; j < w; ++j) dst[j] = src[j];
        }
        // Four interleaved sub-histograms break the store-to-load chains of repeated values.
        int j = 0;
        for (; j + 4 <= w; j += 4) {
            ++hist4[dst[j]];
            ++hist4[kBins + dst[j + 1]];
            ++hist4[2 * kBins + dst[j + 2]];
            ++hist4[3 * kBins + dst[j + 3]];
        }
        for (; j < w; ++j) ++hist4[dst[j]];
        dst[-1] = dst[0];
        dst[w] = dst[w - 1];
    }
    for (int v = 0; v < kBins; ++v)
        ws.hist[v] = hist4[v] + hist4[kBins + v] + hist4[2 * kBins + v] + hist4[3 * kBins + v];
    std::copy(pad + pw, pad + 2 * pw, pad);
    std::copy(pad + static_cast<size_t>(h) * pw, pad + static_cast<size_t>(h + 1) * pw,
              pad + static_cast<size_t>(h + 1) * pw);
}

// Sum over the tile of Gx^2 + Gy^2 (Sobel), of L and of L^2 (4-neighbour Laplacian).
TF_TARGET_CLONES void stencil_sums(const Workspace& ws, int h, int w, int64_t& g2, int64_t& l1,
                                   int64_t& l2) {
    const int pw = w + 2;
    const int16_t* pad = ws.pad.data();
    g2 = l1 = l2 = 0;
    for (int i = 1; i <= h; ++i) {
        const int16_t* __restrict up = pad + static_cast<size_t>(i - 1) * pw;
        const int16_t* __restrict cu = pad + static_cast<size_t>(i) * pw;
        const int16_t* __restrict dn = pad + static_cast<size_t>(i + 1) * pw;
        for (int c0 = 1; c0 <= w; c0 += kColChunk) {
            const int c1 = std::min(w + 1, c0 + kColChunk);
            int32_t sg = 0, s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : sg, s1, s2)
            for (int j = c0; j < c1; ++j) {
                const int32_t gx = (up[j + 1] - up[j - 1]) + 2 * (cu[j + 1] - cu[j - 1]) +
                                   (dn[j + 1] - dn[j - 1]);
                const int32_t gy = (dn[j - 1] + 2 * dn[j] + dn[j + 1]) -
                                   (up[j - 1] + 2 * up[j] + up[j + 1]);
                const int32_t lap = up[j] + dn[j] + cu[j - 1] + cu[j + 1] - 4 * cu[j];
                sg += gx * gx + gy * gy;
                s1 += lap;
                s2 += lap * lap;
            }
            g2 += sg;
            l1 += s1;
            l2 += s2;
        }
    }
}

// Sum of (Y - up(down(Y)))^2 * (4 f^4)^2 over the tile cropped to multiples of f.
TF_TARGET_CLONES double interp_sum(Workspace& ws, int w, int hc, int wc, int f) {
    const int pw = w + 2;
    const int hd = hc / f, wd = wc / f;
    const int16_t* pad = ws.pad.data();
    ws.bsum.resize(static_cast<size_t>(hd) * wd);
    ws.colsum.resize(wc);
    for (int a = 0; a < hd; ++a) {
        int32_t* __restrict cs = ws.colsum.data();
        std::fill(cs, cs + wc, 0);
        for (int u = 0; u < f; ++u) {  // vertical sums of f rows (contiguous, vectorised)
            const int16_t* __restrict row = pad + static_cast<size_t>(a * f + u + 1) * pw + 1;
            for (int j = 0; j < wc; ++j) cs[j] += row[j];
        }
        int32_t* __restrict bs = ws.bsum.data() + static_cast<size_t>(a) * wd;
        for (int b = 0; b < wd; ++b) {  // then horizontal sums of f columns
            int32_t s = 0;
            for (int v = 0; v < f; ++v) s += cs[b * f + v];
            bs[b] = s;
        }
    }
    // Horizontal pass, one output phase r = j mod f at a time (contiguous reads of bs):
    // with q = 2r + 1 - f, column j = b f + r has src = b + q / 2f (bilinear_tap), i.e.
    //   q >= 0: (2f - q) bs[b] + q bs[min(b + 1, wd - 1)]
    //   q <  0: -q bs[b - 1] + (2f + q) bs[b]   (b = 0 clamps to 2f bs[0])
    ws.horiz.resize(static_cast<size_t>(hd) * wc);
    for (int a = 0; a < hd; ++a) {
        const int32_t* __restrict bs = ws.bsum.data() + static_cast<size_t>(a) * wd;
        int32_t* __restrict hz = ws.horiz.data() + static_cast<size_t>(a) * wc;
        for (int r = 0; r < f; ++r) {
            const int q = 2 * r + 1 - f;
            if (q >= 0) {
                const int32_t w0 = 2 * f - q, w1 = q;
                for (int b = 0; b + 1 < wd; ++b) hz[b * f + r] = w0 * bs[b] + w1 * bs[b + 1];
                hz[(wd - 1) * f + r] = 2 * f * bs[wd - 1];
            } else {
                const int32_t w0 = -q, w1 = 2 * f + q;
                hz[r] = 2 * f * bs[0];
                for (int b = 1; b < wd; ++b) hz[b * f + r] = w0 * bs[b - 1] + w1 * bs[b];
            }
        }
    }
    const int32_t scale = 4 * f * f * f * f;  // (2f)^2 bilinear weights x f^2 box area
    double acc = 0.0;
    for (int i = 0; i < hc; ++i) {
        int32_t a0, a1, w0, w1;
        bilinear_tap(i, f, hd, a0, a1, w0, w1);
        const int32_t* __restrict h0 = ws.horiz.data() + static_cast<size_t>(a0) * wc;
        const int32_t* __restrict h1 = ws.horiz.data() + static_cast<size_t>(a1) * wc;
        const int16_t* __restrict row = pad + static_cast<size_t>(i + 1) * pw + 1;
        // d is an exact integer (|d| <= 1020 f^4) and so is d^2 in double; for f <= 4 every
        // partial sum of a tile up to 362 x 362 stays below 2^53, so the reordered (SIMD)
        // summation is exact, otherwise within a few ulp.
        double racc = 0.0;
#pragma omp simd reduction(+ : racc)
        for (int j = 0; j < wc; ++j) {
            const double d = static_cast<double>(scale * row[j] - (w0 * h0[j] + w1 * h1[j]));
            racc += d * d;
        }
        acc += racc;
    }
    return acc;
}

void tile_one(const uint8_t* img, int64_t H, int64_t W, int C, int y0, int x0, int size, int f,
              Workspace& ws, float* out, int32_t* hist_out) {
    const int h = static_cast<int>(std::min<int64_t>(size, H - y0));
    const int w = static_cast<int>(std::min<int64_t>(size, W - x0));
    load_luma(img, W, C, y0, x0, h, w, ws);
    if (hist_out != nullptr) std::copy(ws.hist, ws.hist + kBins, hist_out);
    if (out == nullptr) return;

    const double n = static_cast<double>(h) * w;
    int64_t s1 = 0;
    for (int v = 0; v < kBins; ++v) s1 += static_cast<int64_t>(v) * ws.hist[v];
    const double mean = static_cast<double>(s1) / n;
    double var = 0.0, ent = 0.0;
    for (int v = 0; v < kBins; ++v) {
        if (ws.hist[v] == 0) continue;
        const double d = v - mean;
        const double p = ws.hist[v] / n;
        var += ws.hist[v] * d * d;
        ent -= p * std::log2(p);
    }

    int64_t g2, l1, l2;
    stencil_sums(ws, h, w, g2, l1, l2);
    const double lmean = static_cast<double>(l1) / n;

    const int hc = h / f * f, wc = w / f * f;
    double ierr = 0.0;
    if (hc > 0 && wc > 0) {
        const double scale = 4.0 * f * f * f * f;
        ierr = interp_sum(ws, w, hc, wc, f) / (scale * scale) / (static_cast<double>(hc) * wc);
    }
    out[0] = static_cast<float>(mean);
    out[1] = static_cast<float>(var / n);
    out[2] = static_cast<float>(ent);
    out[3] = static_cast<float>(static_cast<double>(g2) / n);
    out[4] = static_cast<float>(std::max(0.0, static_cast<double>(l2) / n - lmean * lmean));
    out[5] = static_cast<float>(ierr);
}

using ImageArray = nb::ndarray<const uint8_t, nb::ndim<3>, nb::c_contig, nb::device::cpu>;
using CoordArray = nb::ndarray<const int32_t, nb::shape<-1, 2>, nb::c_contig, nb::device::cpu>;

void check_args(const ImageArray& img, const CoordArray& coords, int size, int f) {
    const int64_t H = static_cast<int64_t>(img.shape(0)), W = static_cast<int64_t>(img.shape(1));
    const int64_t C = static_cast<int64_t>(img.shape(2));
    if (C != 1 && C != 3)
        throw std::invalid_argument("img: expected H x W x C with C in {1, 3}, got C = " +
                                    std::to_string(C));
    if (H == 0 || W == 0) throw std::invalid_argument("img: expected a non-empty image");
    if (size < 1)
        throw std::invalid_argument("size: expected a positive tile side, got " +
                                    std::to_string(size));
    if (f < 2 || f > kMaxInterpScale)
        throw std::invalid_argument("interp_scale: expected an integer in [2, 16], got " +
                                    std::to_string(f));
    const int32_t* c = coords.data();
    for (size_t t = 0; t < coords.shape(0); ++t) {
        const int64_t y = c[2 * t], x = c[2 * t + 1];
        if (y < 0 || y >= H || x < 0 || x >= W)
            throw std::invalid_argument("coords[" + std::to_string(t) + "] = (" +
                                        std::to_string(y) + ", " + std::to_string(x) +
                                        "): tiles must start inside the " + std::to_string(H) +
                                        " x " + std::to_string(W) + " image");
    }
}

// Y8 of image rows [r0, r1) into plane (H x W, one byte per pixel).
TF_TARGET_CLONES void luma_rows(const uint8_t* __restrict img, int64_t W, int64_t r0, int64_t r1,
                                uint8_t* __restrict plane) {
    for (int64_t i = r0; i < r1; ++i) {
        const uint8_t* __restrict src = img + i * W * 3;
        uint8_t* __restrict dst = plane + i * W;
#pragma omp simd
        for (int64_t j = 0; j < W; ++j) {
            const int r = src[3 * j], g = src[3 * j + 1], b = src[3 * j + 2];
            dst[j] = static_cast<uint8_t>((77 * r + 150 * g + 29 * b + 128) >> 8);
        }
    }
}

// Run tile_one over every tile with OpenMP; out / hist may be null.
// Overlapping RGB tiles (the pipeline's stride = size / 2 reads every pixel about four times)
// share one Y8 plane computed first, so the colour conversion runs once per pixel and the tile
// passes read one byte per pixel instead of three. The plane is used when the tiles cover at
// least half as many pixels as the image holds; the results are identical either way.
void run_tiles(const ImageArray& img, const CoordArray& coords, int size, int f, int num_threads,
               float* out, int32_t* hist) {
    const int64_t H = static_cast<int64_t>(img.shape(0)), W = static_cast<int64_t>(img.shape(1));
    const int C = static_cast<int>(img.shape(2));
    const int64_t n = static_cast<int64_t>(coords.shape(0));
    const uint8_t* data = img.data();
    const int32_t* c = coords.data();
    nb::gil_scoped_release release;
    double covered = 0.0;
    for (int64_t t = 0; t < n; ++t)
        covered += static_cast<double>(std::min<int64_t>(size, H - c[2 * t])) *
                   static_cast<double>(std::min<int64_t>(size, W - c[2 * t + 1]));
    const bool use_plane = C == 3 && 2.0 * covered >= static_cast<double>(H) * W;
    std::vector<uint8_t> plane(use_plane ? static_cast<size_t>(H * W) : 0);
    const uint8_t* src = use_plane ? plane.data() : data;
#ifdef _OPENMP
    const int nt = num_threads > 0 ? num_threads : omp_get_max_threads();
#pragma omp parallel num_threads(nt) if (n > 1)
#else
    (void)num_threads;
#endif
    {
        if (use_plane) {
            constexpr int64_t kRows = 16;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (int64_t r = 0; r < H; r += kRows)
                luma_rows(data, W, r, std::min(H, r + kRows), plane.data());
            // implicit barrier: the plane is complete before any tile reads it
        }
        const int tc = use_plane ? 1 : C;
        Workspace ws;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 4)
#endif
        for (int64_t t = 0; t < n; ++t) {
            tile_one(src, H, W, tc, c[2 * t], c[2 * t + 1], size, f, ws,
                     out ? out + t * kNumStats : nullptr, hist ? hist + t * kBins : nullptr);
        }
    }
}

template <typename T>
nb::ndarray<nb::numpy, T, nb::ndim<2>> new_array(size_t rows, size_t cols) {
    T* buf = new T[rows * cols > 0 ? rows * cols : 1];
    nb::capsule owner(buf, [](void* p) noexcept { delete[] static_cast<T*>(p); });
    return nb::ndarray<nb::numpy, T, nb::ndim<2>>(buf, {rows, cols}, owner);
}

nb::ndarray<nb::numpy, float, nb::ndim<2>> tile_stats(ImageArray img, CoordArray coords,
                                                      int size, int interp_scale,
                                                      int num_threads) {
    check_args(img, coords, size, interp_scale);
    auto out = new_array<float>(coords.shape(0), kNumStats);
    run_tiles(img, coords, size, interp_scale, num_threads, out.data(), nullptr);
    return out;
}

nb::ndarray<nb::numpy, int32_t, nb::ndim<2>> tile_histograms(ImageArray img, CoordArray coords,
                                                             int size, int num_threads) {
    check_args(img, coords, size, 2);
    auto out = new_array<int32_t>(coords.shape(0), kBins);
    run_tiles(img, coords, size, 2, num_threads, nullptr, out.data());
    return out;
}

bool has_openmp() {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
}

}  // namespace

NB_MODULE(_cstats, m) {
    m.doc() = "OpenMP per-tile image statistics (see tripled_fast.scoring.stats).";
    m.attr("STAT_NAMES") =
        nb::make_tuple("mean", "var", "entropy", "grad_energy", "lap_var", "interp_err");
    // noconvert: a float image or int64 coords is a TypeError, never a silent cast / copy.
    m.def("tile_stats", &tile_stats, nb::arg("img").noconvert(), nb::arg("coords").noconvert(),
          nb::arg("size"), nb::arg("interp_scale") = 2, nb::arg("num_threads") = 0,
          "Statistics of the tiles of a uint8 H x W x C image.\n\n"
          "img: uint8 C-contiguous (H, W, C), C in {1, 3}; coords: int32 C-contiguous (N, 2) of "
          "tile (y, x).\nReturns float32 (N, 6) with columns STAT_NAMES.");
    m.def("tile_histograms", &tile_histograms, nb::arg("img").noconvert(),
          nb::arg("coords").noconvert(), nb::arg("size"), nb::arg("num_threads") = 0,
          "256-bin Y8 histograms of the tiles: int32 (N, 256).");
    m.def("has_openmp", &has_openmp, "True when the extension was built with OpenMP.");
}
