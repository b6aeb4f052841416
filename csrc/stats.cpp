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
// Overlapping RGB tiles first share one luminance plane (see run_tiles), and tiles on a regular
// grid (the pipeline's stride = size / 2) share per-cell sums: one pass over the image instead
// of one per tile (see "Grid path" below); the results are bit-identical either way.

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
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

// c log2(c) for c = 0 .. 2^16 (the entropy of a histogram of n pixels is
// log2(n) - sum_v c_v log2(c_v) / n); built once per process, used for tiles up to 2^16 pixels.
constexpr int64_t kClogcMax = int64_t{1} << 16;
const std::vector<double>& clogc_table() {
    static const std::vector<double> table = [] {
        std::vector<double> t(static_cast<size_t>(kClogcMax) + 1, 0.0);
        for (int64_t c = 2; c <= kClogcMax; ++c)
            t[c] = static_cast<double>(c) * std::log2(static_cast<double>(c));
        return t;
    }();
    return table;
}

// sum_v c_v log2(c_v) over the bins v in [lo, hi) of a histogram (lo a multiple of 4, hi <= 256),
// in a fixed order on every path: four running sums, one per v mod 4, then (s0 + s1) + (s2 + s3).
// Empty bins add +0.0, so any range holding every non-empty bin gives the same bits.
// clogc: a clogc_table of at least (largest count + 1) entries, or null (log2 per bin).
double sum_clogc(const int32_t* hist, int lo, int hi, const double* clogc) {
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    if (clogc != nullptr) {
        for (int v = lo; v < hi; v += 4) {
            s0 += clogc[hist[v]];
            s1 += clogc[hist[v + 1]];
            s2 += clogc[hist[v + 2]];
            s3 += clogc[hist[v + 3]];
        }
    } else {
        auto cl = [](int32_t c) { return c > 1 ? c * std::log2(static_cast<double>(c)) : 0.0; };
        for (int v = lo; v < hi; v += 4) {
            s0 += cl(hist[v]);
            s1 += cl(hist[v + 1]);
            s2 += cl(hist[v + 2]);
            s3 += cl(hist[v + 3]);
        }
    }
    return (s0 + s1) + (s2 + s3);
}

// The six statistics of one tile (both code paths) from its pixel count h x w, the integer
// sums s1 = sum Y, s2 = sum Y^2, slogs = sum_clogc over its histogram, the stencil sums and
// isum, the sum of the squared scaled interpolation differences (see interp_sum); log2n =
// log2(h w) (the grid path computes it once).
void finish_tile(int h, int w, int hc, int wc, int f, int64_t s1, int64_t s2, double slogs,
                 int64_t g2, int64_t l1, int64_t l2, double isum, double log2n, float* out) {
    const double n = static_cast<double>(h) * w;
    const int64_t ni = static_cast<int64_t>(h) * w;
    const double mean = static_cast<double>(s1) / n;
    // exact integer moments: n var = (n sum v^2 - (sum v)^2) / n (no cancellation); the integer
    // form is exact while n sum v^2 < 2^63 (tiles up to 2^24 pixels)
    const double var = ni <= (int64_t{1} << 24)
                           ? static_cast<double>(ni * s2 - s1 * s1) / n
                           : static_cast<double>(s2) - static_cast<double>(s1) * mean;
    const double ent = std::max(0.0, log2n - slogs / n);
    const double lmean = static_cast<double>(l1) / n;
    double ierr = 0.0;
    if (hc > 0 && wc > 0) {
        const double scale = 4.0 * f * f * f * f;
        ierr = isum / (scale * scale) / (static_cast<double>(hc) * wc);
    }
    out[0] = static_cast<float>(mean);
    out[1] = static_cast<float>(var / n);
    out[2] = static_cast<float>(ent);
    out[3] = static_cast<float>(static_cast<double>(g2) / n);
    out[4] = static_cast<float>(std::max(0.0, static_cast<double>(l2) / n - lmean * lmean));
    out[5] = static_cast<float>(ierr);
}

// sum v h[v] and sum v^2 h[v] of a histogram (exact: doubles of integers below 2^53, any order)
TF_TARGET_CLONES void hist_moments(const int32_t* hist, int64_t& s1, int64_t& s2) {
    double d1 = 0.0, d2 = 0.0;
#pragma omp simd reduction(+ : d1, d2)
    for (int v = 0; v < kBins; ++v) {
        const double c = hist[v];
        d1 += v * c;
        d2 += static_cast<double>(v * v) * c;
    }
    s1 = static_cast<int64_t>(d1);
    s2 = static_cast<int64_t>(d2);
}

void tile_one(const uint8_t* img, int64_t H, int64_t W, int C, int y0, int x0, int size, int f,
              const std::vector<double>& clogc, Workspace& ws, float* out, int32_t* hist_out) {
    const int h = static_cast<int>(std::min<int64_t>(size, H - y0));
    const int w = static_cast<int>(std::min<int64_t>(size, W - x0));
    load_luma(img, W, C, y0, x0, h, w, ws);
    if (hist_out != nullptr) std::copy(ws.hist, ws.hist + kBins, hist_out);
    if (out == nullptr) return;

    int64_t g2, l1, l2;
    stencil_sums(ws, h, w, g2, l1, l2);
    const int hc = h / f * f, wc = w / f * f;
    double isum = 0.0;
    if (hc > 0 && wc > 0) isum = interp_sum(ws, w, hc, wc, f);
    const bool table = static_cast<size_t>(h) * w < clogc.size();
    int64_t s1, s2;
    hist_moments(ws.hist, s1, s2);
    const double slogs = sum_clogc(ws.hist, 0, kBins, table ? clogc.data() : nullptr);
    finish_tile(h, w, hc, wc, f, s1, s2, slogs, g2, l1, l2, isum, std::log2(static_cast<double>(h) * w), out);
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

// ---------------------------------------------------------------------------------------------
// Grid path: tiles whose origins lie on a grid of s x s cells (s divides the tile side, s even,
// f == 2), i.e. the pipeline's overlapping tile grid. Instead of running every tile alone
// (stride size / 2 reads each pixel four times), one pass over the image computes, per cell,
// the histogram and the sums of the per-pixel terms q = (Gx^2 + Gy^2, L, L^2, E^2) evaluated
// with the image's own neighbours ("true" values, clamped to the cell region), plus the sums of
// the differences (tile-edge value - true value) along the cell's first / last row and column.
// A tile's terms differ from the true ones only on its one-pixel ring (the replicate padding of
// Sobel / Laplacian and the clamped bilinear taps of the f = 2 round trip reach one pixel in),
// so, exactly in integers:
//   sum_tile q = sum_cells q_true + sum_edges (edge deltas) + sum_corners (corner fix)
// where a corner's fix removes the two edge deltas counted there and adds its own value.
// Every quantity is an integer, so the statistics are bit-identical to tile_one's.

constexpr int kTerms = 4;
// Per cell, each kTerms int64: [0] sums over the cell, [1] top-row deltas, [2] bottom-row,
// [3] left-column, [4] right-column deltas, [5..8] the fixes of the top-left, top-right,
// bottom-left and bottom-right corner pixels.
constexpr int kCellSlots = 9 * kTerms;

struct Grid {
    int s = 0;          // cell side
    int64_t oy = 0, ox = 0;  // top-left pixel of the cell region in the image
    int nr = 0, nc = 0; // cells per column / row; the cell region is (nr s) x (nc s)
    std::unique_ptr<int64_t[]> sums;   // nr * nc * kCellSlots (each cell row zeroed when filled)
    std::unique_ptr<int32_t[]> hists;  // nr * nc * kBins (fully written)
    std::unique_ptr<int64_t[]> moms;   // nr * nc * 2: sum Y, sum Y^2 of the cell
    std::unique_ptr<int32_t[]> span;   // nr * nc * 2: first and last non-empty bin of the cell
    double log2n = 0.0;                // log2 of a tile's pixel count
};

// Scratch of one thread for one cell row. The column deltas work on the cell boundaries
// b = 0 .. nc (boundary b lies between pixel columns b s - 1 and b s): per boundary, columns
// b s - 2 .. b s + 1 of a row ("boundary columns" k = 0 .. 3), laid out column-major
// (k * nbp + b) so that the loops over b are contiguous and vectorise.
struct RowWork {
    std::vector<int16_t> rows;     // (s + 2) x (Wc + 4): Y rows y0 - 1 .. y0 + s of the cell row
                                   // (clamped), each padded by 2 on each side
    std::vector<int16_t> dpad;     // Wc + 4: box sum of each pixel's 2 x 2 block, edge-padded
    std::vector<int16_t> horiz;    // (s/2 + 2) block rows x Wc horizontal interpolation (x4, <= 4080)
    std::vector<int16_t> bY;       // (s + 2) rows (as rows) x 4 boundary columns x nbp: Y
    std::vector<int16_t> bH;       // (s/2 + 2) block rows x 4 x nbp: horizontal values x4 at
                                   // columns b s - 1, b s (true: horiz) and with the cell's
                                   // right / left edge clamp (4 dpad)
    std::vector<int32_t> bq32;     // 6 x nbp column-delta sums over the cell row (int32)
    std::vector<int64_t> bq64;     // 2 x nbp (E^2 deltas)
    std::vector<int32_t> bt32[2];  // one row's deltas, normal / row-replicated (corner fixes)
    std::vector<int64_t> bt64[2];
    std::vector<int32_t> taps;     // s x 3: per row of the cell row a0 - a_lo, a1 - a_lo, v0
    std::vector<int32_t> acc32;    // 3 x Wc/2 column-pair sums of Gx^2 + Gy^2, L, L^2 (cell row)
    std::vector<uint32_t> acce;    // Wc/2 column-pair sums of E^2 over at most 8 rows (< 2^32)
    std::vector<int64_t> acc64;    // Wc/2 column-pair sums of E^2
    std::vector<int32_t> drow32;   // 4 x Wc per-pixel edge deltas of one row
    uint16_t hist4[4 * kBins];
};

// One row of true terms, added per pair of pixel columns k = (2k, 2k + 1) into acc
// (3 x Wc/2 int32: Gx^2 + Gy^2, L, L^2) and ae (Wc/2 uint32: E^2). up / cu / dn are the padded
// rows (index -2 .. Wc + 1), h0 / h1 the bilinear rows of the vertical taps v0 / v1. Wc is even.
// Ranges: |Gx|, |Gy|, |L| <= 1020, |E| <= 16320, so 16-bit lanes hold them and a pair of
// squares stays below 2^31.
void accumulate_row_scalar(const int16_t* __restrict up, const int16_t* __restrict cu,
                           const int16_t* __restrict dn, const uint8_t* __restrict yrow,
                           const int16_t* __restrict h0, const int16_t* __restrict h1, int32_t v0,
                           int32_t v1, int j0, int Wc, int32_t* __restrict acc,
                           uint32_t* __restrict ae) {
    const int hw = Wc / 2;
    for (int j = j0; j < Wc; ++j) {
        const int32_t gx = (up[j + 1] - up[j - 1]) + 2 * (cu[j + 1] - cu[j - 1]) + (dn[j + 1] - dn[j - 1]);
        const int32_t gy = (dn[j - 1] + 2 * dn[j] + dn[j + 1]) - (up[j - 1] + 2 * up[j] + up[j + 1]);
        const int32_t lap = up[j] + dn[j] + cu[j - 1] + cu[j + 1] - 4 * cu[j];
        const int32_t e = 64 * yrow[j] - (v0 * h0[j] + v1 * h1[j]);
        const int k = j / 2;
        acc[k] += gx * gx + gy * gy;
        acc[hw + k] += lap;
        acc[2 * hw + k] += lap * lap;
        ae[k] += static_cast<uint32_t>(e * e);
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(TF_NO_AVX2)
#define TF_HAVE_AVX2_PATH 1
// AVX2 present and not switched off (TRIPLED_FAST_NO_SIMD=1 forces the portable loop, for
// tests and comparisons); read once per process.
bool cpu_has_avx2() {
    static const bool has = __builtin_cpu_supports("avx2") && std::getenv("TRIPLED_FAST_NO_SIMD") == nullptr;
    return has;
}
#endif

#ifdef TF_HAVE_AVX2_PATH
// The true terms of a whole cell row, 16 columns at a time down its s rows with the sums in
// registers (no per-row load / store of the accumulators): rows = the padded Y rows y0 - 1 ..
// y0 + s (stride ps, rows[0] = column 0 of row y0 - 1), yrows = the Y8 rows from y0 (stride W),
// horiz = the horizontal rows (stride hs), taps = per row a0, a1 (horiz row indices) and v0.
// acc (3 x Wc/2) and acc64 (Wc/2) get the column-pair sums; columns past the last multiple of
// 16 take the portable loop (acce: its uint32 E^2 scratch).
// The 3 x 3 int16 neighbourhood of 16 consecutive pixels: rows up / cu / dn, columns -1, 0, +1.
struct TfTaps {
    __m256i u0, u1, u2, c0, c1, c2, d0, d1, d2;
};

__attribute__((target("avx2"), always_inline)) inline TfTaps tf_taps(const int16_t* up, const int16_t* cu,
                                                                     const int16_t* dn) {
#define TF_LD1(p) _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))
    return {TF_LD1(up - 1), TF_LD1(up), TF_LD1(up + 1), TF_LD1(cu - 1), TF_LD1(cu), TF_LD1(cu + 1),
            TF_LD1(dn - 1), TF_LD1(dn), TF_LD1(dn + 1)};
#undef TF_LD1
}

// Sobel gx, gy and the 4-neighbour Laplacian of the centre row (int16, exact for 8-bit input).
__attribute__((target("avx2"), always_inline)) inline void tf_sobel_lap(const TfTaps& t, __m256i& gx, __m256i& gy,
                                                                        __m256i& lap) {
    gx = _mm256_add_epi16(_mm256_add_epi16(_mm256_sub_epi16(t.u2, t.u0), _mm256_sub_epi16(t.d2, t.d0)),
                          _mm256_slli_epi16(_mm256_sub_epi16(t.c2, t.c0), 1));
    gy = _mm256_sub_epi16(_mm256_add_epi16(_mm256_add_epi16(t.d0, t.d2), _mm256_slli_epi16(t.d1, 1)),
                          _mm256_add_epi16(_mm256_add_epi16(t.u0, t.u2), _mm256_slli_epi16(t.u1, 1)));
    lap = _mm256_sub_epi16(_mm256_add_epi16(_mm256_add_epi16(t.u1, t.d1), _mm256_add_epi16(t.c0, t.c2)),
                           _mm256_slli_epi16(t.c1, 2));
}

// One row of accumulate_block_avx2: 16 columns from up (the padded row above; cu, dn below it).
__attribute__((target("avx2"), always_inline)) inline void tf_block_row(
    const int16_t* up, int ps, const uint8_t* yp, const int16_t* h0p, const int16_t* h1p,
    __m256i w0, __m256i w1, __m256i one, __m256i& ag, __m256i& a1, __m256i& a2, __m256i& ae) {
#define TF_LD(p) _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))
    const TfTaps t = tf_taps(up, up + ps, up + 2 * ps);
    __m256i gx, gy, lap;
    tf_sobel_lap(t, gx, gy, lap);
    const __m256i yv = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(yp)));
    const __m256i e = _mm256_sub_epi16(_mm256_slli_epi16(yv, 6),
                                       _mm256_add_epi16(_mm256_mullo_epi16(TF_LD(h0p), w0), _mm256_mullo_epi16(TF_LD(h1p), w1)));
    ag = _mm256_add_epi32(ag, _mm256_add_epi32(_mm256_madd_epi16(gx, gx), _mm256_madd_epi16(gy, gy)));
    a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(lap, one));
    a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(lap, lap));
    ae = _mm256_add_epi32(ae, _mm256_madd_epi16(e, e));  // uint32 pair sums: at most 8 rows
#undef TF_LD
}

__attribute__((target("avx2"))) void accumulate_block_avx2(
    const int16_t* __restrict rows, int ps, const uint8_t* __restrict yrows, int64_t W,
    const int16_t* __restrict horiz, int hs, const int32_t* __restrict taps, int s, int Wc,
    int32_t* __restrict acc, int64_t* __restrict acc64, uint32_t* __restrict acce) {
    const int hw = Wc / 2;
    const __m256i one = _mm256_set1_epi16(1);
    // rows alternate v0 = 1, 3 (y0 and s are even): the weights of the even / odd rows
    const __m256i we0 = _mm256_set1_epi16(static_cast<int16_t>(taps[2])), we1 = _mm256_set1_epi16(static_cast<int16_t>(4 - taps[2]));
    const __m256i wo0 = _mm256_set1_epi16(static_cast<int16_t>(taps[5])), wo1 = _mm256_set1_epi16(static_cast<int16_t>(4 - taps[5]));
    // per row: the horizontal rows of its two vertical taps
    const int16_t* hp[2 * 256];
    for (int i = 0; i < s; ++i) {
        hp[2 * i] = horiz + static_cast<size_t>(taps[3 * i]) * hs;
        hp[2 * i + 1] = horiz + static_cast<size_t>(taps[3 * i + 1]) * hs;
    }
    int j = 0;
    for (; j + 16 <= Wc; j += 16) {
        __m256i ag = _mm256_setzero_si256(), a1 = ag, a2 = ag, e64lo = ag, e64hi = ag;
        const int16_t* up = rows + j;
        const uint8_t* yp = yrows + j;
        for (int i0 = 0; i0 < s; i0 += 8) {  // s is a multiple of 4
            __m256i ae = _mm256_setzero_si256();
            const int i1 = std::min(s, i0 + 8);
            for (int i = i0; i < i1; i += 2, up += 2 * ps, yp += 2 * W) {
                tf_block_row(up, ps, yp, hp[2 * i] + j, hp[2 * i + 1] + j, we0, we1, one, ag, a1, a2, ae);
                tf_block_row(up + ps, ps, yp + W, hp[2 * i + 2] + j, hp[2 * i + 3] + j, wo0, wo1, one, ag, a1, a2, ae);
            }
            e64lo = _mm256_add_epi64(e64lo, _mm256_cvtepu32_epi64(_mm256_castsi256_si128(ae)));
            e64hi = _mm256_add_epi64(e64hi, _mm256_cvtepu32_epi64(_mm256_extracti128_si256(ae, 1)));
        }
        const int k = j / 2;
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + k), ag);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + hw + k), a1);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + 2 * hw + k), a2);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc64 + k), e64lo);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc64 + k + 4), e64hi);
    }
    if (j == Wc) return;
    for (int k = j / 2; k < hw; ++k) acc[k] = acc[hw + k] = acc[2 * hw + k] = 0, acc64[k] = 0, acce[k] = 0;
    for (int i = 0; i < s; ++i) {
        const int16_t* up = rows + static_cast<size_t>(i) * ps;
        const int32_t* t = taps + 3 * i;
        accumulate_row_scalar(up, up + ps, up + 2 * ps, yrows + i * W, horiz + static_cast<size_t>(t[0]) * hs,
                              horiz + static_cast<size_t>(t[1]) * hs, t[2], 4 - t[2], j, Wc, acc, acce);
        if ((i & 7) == 7 || i == s - 1)
            for (int k = j / 2; k < hw; ++k) acc64[k] += acce[k], acce[k] = 0;
    }
}
#endif

// Y8 of pixels [j0, W) of one RGB row (portable loop).
TF_TARGET_CLONES void luma_row_scalar(const uint8_t* __restrict src, int64_t j0, int64_t W,
                                      uint8_t* __restrict dst) {
#pragma omp simd
    for (int64_t j = j0; j < W; ++j) {
        const int r = src[3 * j], g = src[3 * j + 1], b = src[3 * j + 2];
        dst[j] = static_cast<uint8_t>((77 * r + 150 * g + 29 * b + 128) >> 8);
    }
}

#ifdef TF_HAVE_AVX2_PATH
// The same with AVX2, 32 pixels a step (each 128-bit lane: 16 pixels = 48 bytes): pshufb
// gathers the R, G, B bytes, then 77 R + 150 G + 29 B + 128 = (77 R + 11 G) + (29 B + 11 G)
// [two pmaddubsw, each <= 32640] + 128 G + 128 <= 65408, exact in uint16 lanes; >> 8.
__attribute__((target("avx2"))) void luma_row_avx2(const uint8_t* __restrict src, int64_t W,
                                                   uint8_t* __restrict dst) {
    const __m256i r0 = _mm256_setr_epi8(0, 3, 6, 9, 12, 15, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128,
                                          0, 3, 6, 9, 12, 15, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128);
    const __m256i r1 = _mm256_setr_epi8(-128, -128, -128, -128, -128, -128, 2, 5, 8, 11, 14, -128, -128, -128, -128, -128,
                                          -128, -128, -128, -128, -128, -128, 2, 5, 8, 11, 14, -128, -128, -128, -128, -128);
    const __m256i r2 = _mm256_setr_epi8(-128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, 1, 4, 7, 10, 13,
                                          -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, 1, 4, 7, 10, 13);
    const __m256i g0 = _mm256_setr_epi8(1, 4, 7, 10, 13, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128,
                                          1, 4, 7, 10, 13, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128);
    const __m256i g1 = _mm256_setr_epi8(-128, -128, -128, -128, -128, 0, 3, 6, 9, 12, 15, -128, -128, -128, -128, -128,
                                          -128, -128, -128, -128, -128, 0, 3, 6, 9, 12, 15, -128, -128, -128, -128, -128);
    const __m256i g2 = _mm256_setr_epi8(-128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, 2, 5, 8, 11, 14,
                                          -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, 2, 5, 8, 11, 14);
    const __m256i b0 = _mm256_setr_epi8(2, 5, 8, 11, 14, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128,
                                          2, 5, 8, 11, 14, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128);
    const __m256i b1 = _mm256_setr_epi8(-128, -128, -128, -128, -128, 1, 4, 7, 10, 13, -128, -128, -128, -128, -128, -128,
                                          -128, -128, -128, -128, -128, 1, 4, 7, 10, 13, -128, -128, -128, -128, -128, -128);
    const __m256i b2 = _mm256_setr_epi8(-128, -128, -128, -128, -128, -128, -128, -128, -128, -128, 0, 3, 6, 9, 12, 15,
                                          -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, 0, 3, 6, 9, 12, 15);
    const __m256i wrg = _mm256_set1_epi16(static_cast<int16_t>(77 | (11 << 8)));  // bytes (77, 11)
    const __m256i wbg = _mm256_set1_epi16(static_cast<int16_t>(29 | (11 << 8)));  // bytes (29, 11)
    const __m256i half = _mm256_set1_epi16(128);
// bytes p[0 .. 16) | p[48 .. 64)
#define TF_LD2(p) _mm256_inserti128_si256(                                          \
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), \
        _mm_loadu_si128(reinterpret_cast<const __m128i*>((p) + 48)), 1)
    int64_t j = 0;
    for (; j + 32 <= W; j += 32) {
        const uint8_t* p = src + 3 * j;
        const __m256i a = TF_LD2(p), b = TF_LD2(p + 16), c = TF_LD2(p + 32);
        const __m256i R = _mm256_or_si256(_mm256_or_si256(_mm256_shuffle_epi8(a, r0), _mm256_shuffle_epi8(b, r1)), _mm256_shuffle_epi8(c, r2));
        const __m256i G = _mm256_or_si256(_mm256_or_si256(_mm256_shuffle_epi8(a, g0), _mm256_shuffle_epi8(b, g1)), _mm256_shuffle_epi8(c, g2));
        const __m256i B = _mm256_or_si256(_mm256_or_si256(_mm256_shuffle_epi8(a, b0), _mm256_shuffle_epi8(b, b1)), _mm256_shuffle_epi8(c, b2));
        __m256i y[2];
        for (int k = 0; k < 2; ++k) {
            const __m256i rg = k == 0 ? _mm256_unpacklo_epi8(R, G) : _mm256_unpackhi_epi8(R, G);
            const __m256i bg = k == 0 ? _mm256_unpacklo_epi8(B, G) : _mm256_unpackhi_epi8(B, G);
            const __m256i t = _mm256_add_epi16(_mm256_maddubs_epi16(rg, wrg), _mm256_maddubs_epi16(bg, wbg));
            const __m256i g128 = _mm256_slli_epi16(_mm256_srli_epi16(bg, 8), 7);
            y[k] = _mm256_srli_epi16(_mm256_add_epi16(_mm256_add_epi16(t, g128), half), 8);
        }
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + j), _mm256_packus_epi16(y[0], y[1]));
    }
#undef TF_LD2
    luma_row_scalar(src, j, W, dst);
}
#endif

// Y8 of image rows [r0, r1) into plane (H x W, one byte per pixel).
void luma_rows(const uint8_t* __restrict img, int64_t W, int64_t r0, int64_t r1,
               uint8_t* __restrict plane) {
    for (int64_t i = r0; i < r1; ++i) {
#ifdef TF_HAVE_AVX2_PATH
        if (cpu_has_avx2()) {
            luma_row_avx2(img + i * W * 3, W, plane + i * W);
            continue;
        }
#endif
        luma_row_scalar(img + i * W * 3, 0, W, plane + i * W);
    }
}


// One block row of the f = 2 round trip: dp[j] = the 2 x 2 box sum of the block holding
// column j (from image rows r0, r1; dp is padded: dp[-2], dp[-1] = dp[0], dp[Wc], dp[Wc + 1] =
// dp[Wc - 1]), and hz[j] = the horizontal bilinear value x 4: 3 dp[j] + dp[j - 2] for even j
// (left neighbour block), 3 dp[j] + dp[j + 2] for odd j; the padding is the edge clamp.
void horizontal_row_scalar(const uint8_t* __restrict r0, const uint8_t* __restrict r1, int j0,
                           int Wc, int16_t* __restrict dp, int16_t* __restrict hz, bool pass1) {
    if (pass1) {
        for (int j = j0; j < Wc; j += 2) {
            const int16_t v = static_cast<int16_t>(r0[j] + r0[j + 1] + r1[j] + r1[j + 1]);
            dp[j] = dp[j + 1] = v;
        }
        return;
    }
    for (int j = j0; j < Wc; ++j) hz[j] = static_cast<int16_t>(3 * dp[j] + dp[(j & 1) ? j + 2 : j - 2]);
}

#ifdef TF_HAVE_AVX2_PATH
__attribute__((target("avx2"))) void horizontal_row_avx2(const uint8_t* __restrict r0,
                                                          const uint8_t* __restrict r1, int Wc,
                                                          int16_t* __restrict dp,
                                                          int16_t* __restrict hz) {
    // swap the two int16 of every pair (bytes 0 1 2 3 -> 2 3 0 1)
    const __m256i swap = _mm256_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13,
                                          2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
    int j = 0;
    for (; j + 16 <= Wc; j += 16) {
        const __m256i a = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r0 + j)));
        const __m256i b = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r1 + j)));
        const __m256i v = _mm256_add_epi16(a, b);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dp + j), _mm256_add_epi16(v, _mm256_shuffle_epi8(v, swap)));
    }
    horizontal_row_scalar(r0, r1, j, Wc, dp, hz, true);
    dp[-2] = dp[-1] = dp[0];
    dp[Wc] = dp[Wc + 1] = dp[Wc - 1];
    for (j = 0; j + 16 <= Wc; j += 16) {
        const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dp + j));
        const __m256i l = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dp + j - 2));
        const __m256i r = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dp + j + 2));
        const __m256i nb = _mm256_blend_epi16(l, r, 0xAA);  // odd lanes from the right
        const __m256i h = _mm256_add_epi16(_mm256_add_epi16(c, _mm256_slli_epi16(c, 1)), nb);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(hz + j), h);
    }
    horizontal_row_scalar(r0, r1, j, Wc, dp, hz, false);
}
#endif

void horizontal_row(const uint8_t* r0, const uint8_t* r1, int Wc, int16_t* dp, int16_t* hz) {
#ifdef TF_HAVE_AVX2_PATH
    if (cpu_has_avx2()) {
        horizontal_row_avx2(r0, r1, Wc, dp, hz);
        return;
    }
#endif
    horizontal_row_scalar(r0, r1, 0, Wc, dp, hz, true);
    dp[-2] = dp[-1] = dp[0];
    dp[Wc] = dp[Wc + 1] = dp[Wc - 1];
    horizontal_row_scalar(r0, r1, 0, Wc, dp, hz, false);
}

// Column deltas of one row at every cell boundary b = 0 .. nb - 1, added into q32 (6 x nbp:
// left-column Gx^2 + Gy^2, L, L^2 deltas of cell b, then the right-column ones of cell b - 1)
// and q64 (2 x nbp: the E^2 deltas, left then right). u / c / d: the rows above / at / below,
// as boundary columns (k * nbp + b, k = 0 .. 3 for pixel columns b s - 2 .. b s + 1); h0 / h1:
// the block rows of the vertical taps v0 / v1 as bH rows (k = 0, 1: true horizontal values at
// columns b s - 1, b s; k = 2, 3: the same with the cell's right / left edge clamp).
// The left column of cell b replicates its pixel for the missing left neighbour, the right
// column of cell b - 1 for the right one; delta = replicated terms - true terms. (Lanes
// b = 0 of the right side and b = nc of the left side are computed but never used.)
// Plain integer loops over b: vectorised by the compiler, identical results either way.
TF_TARGET_CLONES void boundary_row_scalar(const int16_t* __restrict u, const int16_t* __restrict c,
                                   const int16_t* __restrict d, const int16_t* __restrict h0,
                                   const int16_t* __restrict h1, int32_t v0, int32_t v1, int nb,
                                   int nbp, int32_t* __restrict q32, int64_t* __restrict q64) {
#pragma omp simd
    for (int b = 0; b < nb; ++b) {
        const int32_t u0 = u[b], u1 = u[nbp + b], u2 = u[2 * nbp + b], u3 = u[3 * nbp + b];
        const int32_t c0 = c[b], c1 = c[nbp + b], c2 = c[2 * nbp + b], c3 = c[3 * nbp + b];
        const int32_t d0 = d[b], d1 = d[nbp + b], d2 = d[2 * nbp + b], d3 = d[3 * nbp + b];
        // left column of cell b: centre column 2, neighbours 1 (replicated: 2) and 3
        {
            const int32_t gx = (u3 - u1) + 2 * (c3 - c1) + (d3 - d1);
            const int32_t rgx = (u3 - u2) + 2 * (c3 - c2) + (d3 - d2);
            const int32_t gy = (d1 + 2 * d2 + d3) - (u1 + 2 * u2 + u3);
            const int32_t rgy = (3 * d2 + d3) - (3 * u2 + u3);
            const int32_t lap = u2 + d2 + c1 + c3 - 4 * c2;
            const int32_t rlap = u2 + d2 + c3 - 3 * c2;
            const int32_t e = 64 * c2 - (v0 * h0[nbp + b] + v1 * h1[nbp + b]);
            const int32_t re = 64 * c2 - (v0 * h0[3 * nbp + b] + v1 * h1[3 * nbp + b]);
            q32[b] += (rgx * rgx + rgy * rgy) - (gx * gx + gy * gy);
            q32[nbp + b] += rlap - lap;
            q32[2 * nbp + b] += rlap * rlap - lap * lap;
            q64[b] += static_cast<int64_t>(re * re - e * e);
        }
        // right column of cell b - 1: centre column 1, neighbours 0 and 2 (replicated: 1)
        {
            const int32_t gx = (u2 - u0) + 2 * (c2 - c0) + (d2 - d0);
            const int32_t rgx = (u1 - u0) + 2 * (c1 - c0) + (d1 - d0);
            const int32_t gy = (d0 + 2 * d1 + d2) - (u0 + 2 * u1 + u2);
            const int32_t rgy = (d0 + 3 * d1) - (u0 + 3 * u1);
            const int32_t lap = u1 + d1 + c0 + c2 - 4 * c1;
            const int32_t rlap = u1 + d1 + c0 - 3 * c1;
            const int32_t e = 64 * c1 - (v0 * h0[b] + v1 * h1[b]);
            const int32_t re = 64 * c1 - (v0 * h0[2 * nbp + b] + v1 * h1[2 * nbp + b]);
            q32[3 * nbp + b] += (rgx * rgx + rgy * rgy) - (gx * gx + gy * gy);
            q32[4 * nbp + b] += rlap - lap;
            q32[5 * nbp + b] += rlap * rlap - lap * lap;
            q64[nbp + b] += static_cast<int64_t>(re * re - e * e);
        }
    }
}

#ifdef TF_HAVE_AVX2_PATH
// products of int16 lanes (exact int32), in unpack order: lo = lanes 0-3 | 8-11, hi = 4-7 | 12-15
__attribute__((target("avx2"))) inline void tf_mul32(__m256i x, __m256i y, __m256i& lo, __m256i& hi) {
    const __m256i l = _mm256_mullo_epi16(x, y), h = _mm256_mulhi_epi16(x, y);
    lo = _mm256_unpacklo_epi16(l, h);
    hi = _mm256_unpackhi_epi16(l, h);
}
// a x + b y per int16 lane (exact int32), in unpack order
__attribute__((target("avx2"))) inline void tf_madd2(__m256i a, __m256i b, __m256i x, __m256i y,
                                                     __m256i& lo, __m256i& hi) {
    lo = _mm256_madd_epi16(_mm256_unpacklo_epi16(a, b), _mm256_unpacklo_epi16(x, y));
    hi = _mm256_madd_epi16(_mm256_unpackhi_epi16(a, b), _mm256_unpackhi_epi16(x, y));
}
// p[0 .. 16) += the 16 int32 of (lo, hi) in lane order 0 .. 15
__attribute__((target("avx2"))) inline void tf_acc32(int32_t* p, __m256i lo, __m256i hi) {
    __m256i* q = reinterpret_cast<__m256i*>(p);
    _mm256_storeu_si256(q, _mm256_add_epi32(_mm256_loadu_si256(q), _mm256_permute2x128_si256(lo, hi, 0x20)));
    _mm256_storeu_si256(q + 1, _mm256_add_epi32(_mm256_loadu_si256(q + 1), _mm256_permute2x128_si256(lo, hi, 0x31)));
}
__attribute__((target("avx2"))) inline void tf_acc64(int64_t* p, __m256i lo, __m256i hi) {
    const __m256i a = _mm256_permute2x128_si256(lo, hi, 0x20), b = _mm256_permute2x128_si256(lo, hi, 0x31);
    const __m256i w[4] = {_mm256_cvtepi32_epi64(_mm256_castsi256_si128(a)), _mm256_cvtepi32_epi64(_mm256_extracti128_si256(a, 1)),
                          _mm256_cvtepi32_epi64(_mm256_castsi256_si128(b)), _mm256_cvtepi32_epi64(_mm256_extracti128_si256(b, 1))};
    __m256i* q = reinterpret_cast<__m256i*>(p);
    for (int k = 0; k < 4; ++k) _mm256_storeu_si256(q + k, _mm256_add_epi64(_mm256_loadu_si256(q + k), w[k]));
}

// boundary_row with AVX2, 16 boundaries a step in int16 lanes: every delta is a difference of
// squares r^2 - t^2 = (r - t)(r + t) with both factors inside int16 (|Gx|, |Gy|, |L| <= 1020,
// |E| <= 16320, |re + e| <= 32640), multiplied exactly into int32 (pmaddwd / pmulhw). nbp is a
// multiple of 16; lanes b >= nb hold finite leftovers and are never read back.
__attribute__((target("avx2"))) void boundary_row_avx2(
    const int16_t* __restrict u, const int16_t* __restrict c, const int16_t* __restrict d,
    const int16_t* __restrict h0, const int16_t* __restrict h1, int32_t v0, int32_t v1, int nbp,
    int32_t* __restrict q32, int64_t* __restrict q64) {
#define TF_LD(p) _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))
    const __m256i w0 = _mm256_set1_epi16(static_cast<int16_t>(v0)), w1 = _mm256_set1_epi16(static_cast<int16_t>(v1));
    for (int b = 0; b < nbp; b += 16) {
        const __m256i u0 = TF_LD(u + b), u1 = TF_LD(u + nbp + b), u2 = TF_LD(u + 2 * nbp + b), u3 = TF_LD(u + 3 * nbp + b);
        const __m256i c0 = TF_LD(c + b), c1 = TF_LD(c + nbp + b), c2 = TF_LD(c + 2 * nbp + b), c3 = TF_LD(c + 3 * nbp + b);
        const __m256i d0 = TF_LD(d + b), d1 = TF_LD(d + nbp + b), d2 = TF_LD(d + 2 * nbp + b), d3 = TF_LD(d + 3 * nbp + b);
        // columns 1 and 2 (b s - 1, b s) differ by (du, dc, dd) in the three rows; replicating
        // either one for the other changes Gx by ax and Gy by +-ay, L by -+dc (both sides)
        const __m256i du = _mm256_sub_epi16(u2, u1), dc = _mm256_sub_epi16(c2, c1), dd = _mm256_sub_epi16(d2, d1);
        const __m256i ax = _mm256_sub_epi16(_mm256_setzero_si256(),
                                            _mm256_add_epi16(_mm256_add_epi16(du, dd), _mm256_slli_epi16(dc, 1)));
        const __m256i ay = _mm256_sub_epi16(dd, du);
        __m256i lo, hi;
        // left column of cell b (centre 2, neighbours 1 and 3)
        {
            const __m256i gx = _mm256_add_epi16(_mm256_add_epi16(_mm256_sub_epi16(u3, u1), _mm256_sub_epi16(d3, d1)),
                                                _mm256_slli_epi16(_mm256_sub_epi16(c3, c1), 1));
            const __m256i gy = _mm256_sub_epi16(_mm256_add_epi16(_mm256_add_epi16(d1, d3), _mm256_slli_epi16(d2, 1)),
                                                _mm256_add_epi16(_mm256_add_epi16(u1, u3), _mm256_slli_epi16(u2, 1)));
            const __m256i bx = _mm256_add_epi16(_mm256_slli_epi16(gx, 1), ax);   // rgx + gx
            const __m256i by = _mm256_add_epi16(_mm256_slli_epi16(gy, 1), ay);   // rgy + gy
            tf_madd2(ax, ay, bx, by, lo, hi);
            tf_acc32(q32 + b, lo, hi);
            const __m256i lap = _mm256_sub_epi16(_mm256_add_epi16(_mm256_add_epi16(u2, d2), _mm256_add_epi16(c1, c3)),
                                                 _mm256_slli_epi16(c2, 2));
            tf_acc32(q32 + nbp + b, _mm256_srai_epi32(_mm256_unpacklo_epi16(dc, dc), 16),
                     _mm256_srai_epi32(_mm256_unpackhi_epi16(dc, dc), 16));
            tf_mul32(dc, _mm256_add_epi16(_mm256_slli_epi16(lap, 1), dc), lo, hi);  // rlap^2 - lap^2
            tf_acc32(q32 + 2 * nbp + b, lo, hi);
            const __m256i vt = _mm256_add_epi16(_mm256_mullo_epi16(w0, TF_LD(h0 + nbp + b)), _mm256_mullo_epi16(w1, TF_LD(h1 + nbp + b)));
            const __m256i vr = _mm256_add_epi16(_mm256_mullo_epi16(w0, TF_LD(h0 + 3 * nbp + b)), _mm256_mullo_epi16(w1, TF_LD(h1 + 3 * nbp + b)));
            const __m256i sum = _mm256_sub_epi16(_mm256_sub_epi16(_mm256_slli_epi16(c2, 7), vt), vr);  // re + e
            tf_mul32(_mm256_sub_epi16(vt, vr), sum, lo, hi);                                          // (re - e)(re + e)
            tf_acc64(q64 + b, lo, hi);
        }
        // right column of cell b - 1 (centre 1, neighbours 0 and 2)
        {
            const __m256i gx = _mm256_add_epi16(_mm256_add_epi16(_mm256_sub_epi16(u2, u0), _mm256_sub_epi16(d2, d0)),
                                                _mm256_slli_epi16(_mm256_sub_epi16(c2, c0), 1));
            const __m256i gy = _mm256_sub_epi16(_mm256_add_epi16(_mm256_add_epi16(d0, d2), _mm256_slli_epi16(d1, 1)),
                                                _mm256_add_epi16(_mm256_add_epi16(u0, u2), _mm256_slli_epi16(u1, 1)));
            const __m256i nay = _mm256_sub_epi16(_mm256_setzero_si256(), ay);     // rgy - gy
            const __m256i bx = _mm256_add_epi16(_mm256_slli_epi16(gx, 1), ax);
            const __m256i by = _mm256_add_epi16(_mm256_slli_epi16(gy, 1), nay);
            tf_madd2(ax, nay, bx, by, lo, hi);
            tf_acc32(q32 + 3 * nbp + b, lo, hi);
            const __m256i lap = _mm256_sub_epi16(_mm256_add_epi16(_mm256_add_epi16(u1, d1), _mm256_add_epi16(c0, c2)),
                                                 _mm256_slli_epi16(c1, 2));
            const __m256i ndc = _mm256_sub_epi16(_mm256_setzero_si256(), dc);     // rlap - lap
            tf_acc32(q32 + 4 * nbp + b, _mm256_srai_epi32(_mm256_unpacklo_epi16(ndc, ndc), 16),
                     _mm256_srai_epi32(_mm256_unpackhi_epi16(ndc, ndc), 16));
            tf_mul32(ndc, _mm256_add_epi16(_mm256_slli_epi16(lap, 1), ndc), lo, hi);
            tf_acc32(q32 + 5 * nbp + b, lo, hi);
            const __m256i vt = _mm256_add_epi16(_mm256_mullo_epi16(w0, TF_LD(h0 + b)), _mm256_mullo_epi16(w1, TF_LD(h1 + b)));
            const __m256i vr = _mm256_add_epi16(_mm256_mullo_epi16(w0, TF_LD(h0 + 2 * nbp + b)), _mm256_mullo_epi16(w1, TF_LD(h1 + 2 * nbp + b)));
            const __m256i sum = _mm256_sub_epi16(_mm256_sub_epi16(_mm256_slli_epi16(c1, 7), vt), vr);
            tf_mul32(_mm256_sub_epi16(vt, vr), sum, lo, hi);
            tf_acc64(q64 + nbp + b, lo, hi);
        }
    }
#undef TF_LD
}

// Row deltas of the first (top) or last row of a cell row, summed per cell into slot (kTerms
// int64 per cell, kCellSlots apart): the missing row (above for the top row, below for the
// bottom row) is the row itself and the vertical bilinear taps clamp to block row a (ha x 4).
// AVX2, 16 pixels a step, s a multiple of 16; the same (r - t)(r + t) products as above.
__attribute__((target("avx2"))) void edge_row_avx2(
    const int16_t* __restrict up, const int16_t* __restrict cu, const int16_t* __restrict dn, bool top,
    const uint8_t* __restrict yrow, const int16_t* __restrict h0, const int16_t* __restrict h1,
    int32_t v0, int32_t v1, const int16_t* __restrict ha, int s, int nc, int64_t* slot) {
#define TF_LD(p) _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))
    const __m256i w0 = _mm256_set1_epi16(static_cast<int16_t>(v0)), w1 = _mm256_set1_epi16(static_cast<int16_t>(v1));
    for (int c = 0; c < nc; ++c, slot += kCellSlots) {
        __m256i sg = _mm256_setzero_si256(), s1 = sg, s2 = sg, se = sg;
        for (int j = c * s; j < (c + 1) * s; j += 16) {
            const TfTaps t = tf_taps(up + j, cu + j, dn + j);
            const __m256i c0 = t.c0, c1 = t.c1, c2 = t.c2;
            const __m256i m0 = top ? t.u0 : t.d0, m1 = top ? t.u1 : t.d1, m2 = top ? t.u2 : t.d2;
            __m256i gx, gy, lap;
            tf_sobel_lap(t, gx, gy, lap);
            const __m256i ax = _mm256_sub_epi16(_mm256_sub_epi16(c2, c0), _mm256_sub_epi16(m2, m0));  // rgx - gx
            const __m256i ms = _mm256_add_epi16(_mm256_add_epi16(m0, m2), _mm256_slli_epi16(m1, 1));
            const __m256i cs = _mm256_add_epi16(_mm256_add_epi16(c0, c2), _mm256_slli_epi16(c1, 1));
            const __m256i ay = top ? _mm256_sub_epi16(ms, cs) : _mm256_sub_epi16(cs, ms);           // rgy - gy
            const __m256i dl = _mm256_sub_epi16(c1, m1);                                            // rlap - lap
            __m256i lo, hi;
            tf_madd2(ax, ay, _mm256_add_epi16(_mm256_slli_epi16(gx, 1), ax), _mm256_add_epi16(_mm256_slli_epi16(gy, 1), ay), lo, hi);
            sg = _mm256_add_epi32(sg, _mm256_add_epi32(lo, hi));
            s1 = _mm256_add_epi32(s1, _mm256_add_epi32(_mm256_srai_epi32(_mm256_unpacklo_epi16(dl, dl), 16),
                                                       _mm256_srai_epi32(_mm256_unpackhi_epi16(dl, dl), 16)));
            tf_mul32(dl, _mm256_add_epi16(_mm256_slli_epi16(lap, 1), dl), lo, hi);
            s2 = _mm256_add_epi32(s2, _mm256_add_epi32(lo, hi));
            const __m256i yv = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(yrow + j)));
            const __m256i vt = _mm256_add_epi16(_mm256_mullo_epi16(w0, TF_LD(h0 + j)), _mm256_mullo_epi16(w1, TF_LD(h1 + j)));
            const __m256i va = _mm256_slli_epi16(TF_LD(ha + j), 2);
            tf_mul32(_mm256_sub_epi16(vt, va), _mm256_sub_epi16(_mm256_sub_epi16(_mm256_slli_epi16(yv, 7), vt), va), lo, hi);
            se = _mm256_add_epi64(se, _mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(lo)),
                                                       _mm256_cvtepi32_epi64(_mm256_extracti128_si256(lo, 1))));
            se = _mm256_add_epi64(se, _mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(hi)),
                                                       _mm256_cvtepi32_epi64(_mm256_extracti128_si256(hi, 1))));
        }
        alignas(32) int32_t t32[3][8];
        alignas(32) int64_t t64[4];
        _mm256_store_si256(reinterpret_cast<__m256i*>(t32[0]), sg);
        _mm256_store_si256(reinterpret_cast<__m256i*>(t32[1]), s1);
        _mm256_store_si256(reinterpret_cast<__m256i*>(t32[2]), s2);
        _mm256_store_si256(reinterpret_cast<__m256i*>(t64), se);
        for (int k = 0; k < 3; ++k) {
            int64_t t = 0;
            for (int i = 0; i < 8; ++i) t += t32[k][i];
            slot[k] += t;
        }
        slot[3] += (t64[0] + t64[1]) + (t64[2] + t64[3]);
    }
#undef TF_LD
}
#endif

void boundary_row(const int16_t* u, const int16_t* c, const int16_t* d, const int16_t* h0,
                  const int16_t* h1, int32_t v0, int32_t v1, int nb, int nbp, int32_t* q32,
                  int64_t* q64) {
#ifdef TF_HAVE_AVX2_PATH
    if (cpu_has_avx2()) {
        boundary_row_avx2(u, c, d, h0, h1, v0, v1, nbp, q32, q64);
        return;
    }
#endif
    boundary_row_scalar(u, c, d, h0, h1, v0, v1, nb, nbp, q32, q64);
}

// Row (padded by 2, row[0] = column 0) -> its boundary columns (k * nbp + b): with SSE2 an
// 8 x 4 transpose of 64-bit loads per 8 boundaries, scalar copies for the rest.
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-vectorize")))
#endif
void boundary_cols(const int16_t* __restrict row, int s, int nb, int nbp, int16_t* __restrict out) {
    const int16_t* p = row - 2;
    int b = 0;
#if defined(__SSE2__)
    for (; b + 8 <= nb; b += 8, p += 8 * s) {
        __m128i x[8];
        for (int i = 0; i < 8; ++i) x[i] = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + i * s));
        const __m128i t0 = _mm_unpacklo_epi16(x[0], x[1]), t1 = _mm_unpacklo_epi16(x[2], x[3]);
        const __m128i t2 = _mm_unpacklo_epi16(x[4], x[5]), t3 = _mm_unpacklo_epi16(x[6], x[7]);
        const __m128i u0 = _mm_unpacklo_epi32(t0, t1), u1 = _mm_unpackhi_epi32(t0, t1);
        const __m128i u2 = _mm_unpacklo_epi32(t2, t3), u3 = _mm_unpackhi_epi32(t2, t3);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + b), _mm_unpacklo_epi64(u0, u2));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + nbp + b), _mm_unpackhi_epi64(u0, u2));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * nbp + b), _mm_unpacklo_epi64(u1, u3));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 3 * nbp + b), _mm_unpackhi_epi64(u1, u3));
    }
#endif
    for (; b < nb; ++b, p += s) {
        out[b] = p[0];
        out[nbp + b] = p[1];
        out[2 * nbp + b] = p[2];
        out[3 * nbp + b] = p[3];
    }
}

// First and last non-empty bin of the sum of four interleaved 16-bit histograms (not all empty).
inline void cell_span(const uint16_t* h4, int& lo, int& hi) {
#if defined(__SSE2__)
    const __m128i zero = _mm_setzero_si128();
    auto empty = [&](int v) {  // bit 2 k (and 2 k + 1) set when bin v + k is empty in all four
        const __m128i* p = reinterpret_cast<const __m128i*>(h4 + v);
        const __m128i x = _mm_or_si128(_mm_or_si128(_mm_loadu_si128(p), _mm_loadu_si128(p + kBins / 8)),
                                       _mm_or_si128(_mm_loadu_si128(p + kBins / 4), _mm_loadu_si128(p + 3 * kBins / 8)));
        return static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi16(x, zero)));
    };
    for (int v = 0; v < kBins; v += 8) {
        const unsigned full = ~empty(v) & 0xFFFFu;
        if (full) {
            lo = v + __builtin_ctz(full) / 2;
            break;
        }
    }
    for (int v = kBins - 8; v >= 0; v -= 8) {
        const unsigned full = ~empty(v) & 0xFFFFu;
        if (full) {
            hi = v + (31 - __builtin_clz(full)) / 2;
            break;
        }
    }
#else
    auto any = [&](int v) { return (h4[v] | h4[kBins + v] | h4[2 * kBins + v] | h4[3 * kBins + v]) != 0; };
    lo = 0;
    while (!any(lo)) ++lo;
    hi = kBins - 1;
    while (!any(hi)) --hi;
#endif
}

// Sums of the true terms and the row / column edge deltas of the cells of cell row r.
TF_TARGET_CLONES void grid_cell_row(const uint8_t* __restrict plane, int64_t W, Grid& g, int r,
                                    RowWork& rw) {
    const int s = g.s, nc = g.nc;
    const int Hc = g.nr * s, Wc = nc * s, hd = Hc / 2;
    const int half = s / 2;
    const int a_lo = std::max(0, r * half - 1), a_hi = std::min(hd - 1, (r + 1) * half);
    const int na = a_hi - a_lo + 1;
    const int nb = nc + 1, nbp = (nb + 15) / 16 * 16;
    rw.dpad.resize(static_cast<size_t>(Wc) + 4);
    const int hs = Wc + 2;  // horiz rows: one padding slot on each side
    rw.horiz.resize(static_cast<size_t>(na) * hs);
    rw.bH.resize(static_cast<size_t>(na) * 4 * nbp);
    for (int k = 0; k < na; ++k) {
        const int a = a_lo + k;
        const uint8_t* __restrict r0 = plane + static_cast<int64_t>(2 * a) * W;
        const uint8_t* __restrict r1 = r0 + W;
        int16_t* __restrict hz = rw.horiz.data() + static_cast<size_t>(k) * hs + 1;
        int16_t* dp = rw.dpad.data() + 2;  // box sum of pixel j's 2 x 2 block, padded by 2
        horizontal_row(r0, r1, Wc, dp, hz);
        hz[-1] = hz[Wc] = 0;
        int16_t* __restrict bh = rw.bH.data() + static_cast<size_t>(k) * 4 * nbp;
        // k = 0 / 2 at b = 0 and k = 1 / 3 at b = nc (no cell there) read the padding
        for (int b = 0, j = 0; b < nb; ++b, j += s) {
            bh[b] = hz[j - 1];                                       // true, column b s - 1
            bh[nbp + b] = hz[j];                                     // true, column b s
            bh[2 * nbp + b] = static_cast<int16_t>(4 * dp[j - 1]);  // right edge clamp
            bh[3 * nbp + b] = static_cast<int16_t>(4 * dp[j]);      // left edge clamp
        }
    }
    const int ps = Wc + 4;
    const int y0 = r * s;
    rw.rows.resize(static_cast<size_t>(s + 2) * ps);
    rw.bY.resize(static_cast<size_t>(s + 2) * 4 * nbp);
    // rows y0 - 1 .. y0 + s (clamped to the region) as int16, and their boundary columns
    for (int i = 0; i < s + 2; ++i) {
        const int yy = std::min(std::max(y0 - 1 + i, 0), Hc - 1);
        const uint8_t* __restrict src = plane + static_cast<int64_t>(yy) * W;
        int16_t* __restrict d = rw.rows.data() + static_cast<size_t>(i) * ps + 2;
        for (int j = 0; j < Wc; ++j) d[j] = src[j];
        d[-2] = d[-1] = d[0];
        d[Wc] = d[Wc + 1] = d[Wc - 1];
        boundary_cols(d, s, nb, nbp, rw.bY.data() + static_cast<size_t>(i) * 4 * nbp);
    }
    // vertical taps of the true bilinear value of each row (clamped at the region's top / bottom)
    rw.taps.resize(static_cast<size_t>(3) * s);
    for (int i = 0; i < s; ++i) {
        const int y = y0 + i, a = y / 2;
        rw.taps[3 * i] = std::max(0, (y & 1) ? a : a - 1) - a_lo;
        rw.taps[3 * i + 1] = std::min(hd - 1, (y & 1) ? a + 1 : a) - a_lo;
        rw.taps[3 * i + 2] = (y & 1) ? 3 : 1;
    }
    rw.acc32.assign(static_cast<size_t>(3) * (Wc / 2), 0);
    rw.acc64.assign(static_cast<size_t>(Wc / 2), 0);
    rw.acce.assign(static_cast<size_t>(Wc / 2), 0u);
    rw.drow32.resize(static_cast<size_t>(4) * Wc);
    rw.bq32.assign(static_cast<size_t>(6) * nbp, 0);
    rw.bq64.assign(static_cast<size_t>(2) * nbp, 0);
    for (int t = 0; t < 2; ++t) {
        rw.bt32[t].resize(static_cast<size_t>(6) * nbp);
        rw.bt64[t].resize(static_cast<size_t>(2) * nbp);
    }
    int64_t* cells = g.sums.get() + static_cast<size_t>(r) * nc * kCellSlots;
    std::fill(cells, cells + static_cast<size_t>(nc) * kCellSlots, 0);
    // true terms, accumulated per pair of pixel columns over the cell row
#ifdef TF_HAVE_AVX2_PATH
    const bool block = cpu_has_avx2();
    if (block)
        accumulate_block_avx2(rw.rows.data() + 2, ps, plane + static_cast<int64_t>(y0) * W, W,
                              rw.horiz.data() + 1, hs, rw.taps.data(), s, Wc, rw.acc32.data(),
                              rw.acc64.data(), rw.acce.data());
#else
    const bool block = false;
#endif
    for (int y = y0; y < y0 + s; ++y) {
        const int iu = y - y0, ic = iu + 1, id = iu + 2;
        const int16_t* __restrict up = rw.rows.data() + static_cast<size_t>(iu) * ps + 2;
        const int16_t* __restrict cu = up + ps;
        const int16_t* __restrict dn = cu + ps;
        const int a = y / 2;
        const int a0 = rw.taps[3 * iu] + a_lo, a1 = rw.taps[3 * iu + 1] + a_lo;
        const int32_t v0 = rw.taps[3 * iu + 2], v1 = 4 - v0;
        const int16_t* __restrict h0 = rw.horiz.data() + static_cast<size_t>(a0 - a_lo) * hs + 1;
        const int16_t* __restrict h1 = rw.horiz.data() + static_cast<size_t>(a1 - a_lo) * hs + 1;
        const int16_t* __restrict ha = rw.horiz.data() + static_cast<size_t>(a - a_lo) * hs + 1;
        const uint8_t* __restrict yrow = plane + static_cast<int64_t>(y) * W;
        const bool top = y == y0, bottom = y == y0 + s - 1;
        if (!block) {  // the portable loop, one row at a time
            accumulate_row_scalar(up, cu, dn, yrow, h0, h1, v0, v1, 0, Wc, rw.acc32.data(), rw.acce.data());
        }
        if (!block && ((y - y0) % 8 == 7 || y == y0 + s - 1)) {  // E^2 pair sums: at most 8 rows in uint32
            int64_t* __restrict a64 = rw.acc64.data();
            uint32_t* __restrict ae = rw.acce.data();
            for (int k = 0; k < Wc / 2; ++k) a64[k] += ae[k];
            std::fill(ae, ae + Wc / 2, 0u);
        }
#ifdef TF_HAVE_AVX2_PATH
        if ((top || bottom) && s % 16 == 0 && cpu_has_avx2()) {
            edge_row_avx2(up, cu, dn, top, yrow, h0, h1, v0, v1, ha, s, nc,
                          cells + (top ? 1 : 2) * kTerms);
        } else
#endif
        if (top || bottom) {
            // the row replicates itself for the missing neighbour row; the vertical bilinear
            // taps clamp to block row a (weight 4). Per-pixel deltas, summed per cell below.
            const int16_t* __restrict nb_ = top ? dn : up;
            const int sign = top ? 1 : -1;  // gy = down - up: top -> nb - cu, bottom -> cu - nb
            int32_t* __restrict dg = rw.drow32.data();
            int32_t* __restrict d1 = dg + Wc;
            int32_t* __restrict d2 = d1 + Wc;
            int32_t* __restrict de = d2 + Wc;
#pragma omp simd
            for (int j = 0; j < Wc; ++j) {
                const int32_t gx = (up[j + 1] - up[j - 1]) + 2 * (cu[j + 1] - cu[j - 1]) +
                                   (dn[j + 1] - dn[j - 1]);
                const int32_t gy = (dn[j - 1] + 2 * dn[j] + dn[j + 1]) -
                                   (up[j - 1] + 2 * up[j] + up[j + 1]);
                const int32_t lap = up[j] + dn[j] + cu[j - 1] + cu[j + 1] - 4 * cu[j];
                const int32_t e = 64 * yrow[j] - (v0 * h0[j] + v1 * h1[j]);
                const int32_t rgx = 3 * (cu[j + 1] - cu[j - 1]) + (nb_[j + 1] - nb_[j - 1]);
                const int32_t rgy = sign * ((nb_[j - 1] + 2 * nb_[j] + nb_[j + 1]) -
                                            (cu[j - 1] + 2 * cu[j] + cu[j + 1]));
                const int32_t rlap = nb_[j] + cu[j - 1] + cu[j + 1] - 3 * cu[j];
                const int32_t re = 64 * yrow[j] - 4 * ha[j];
                dg[j] = (rgx * rgx + rgy * rgy) - (gx * gx + gy * gy);
                d1[j] = rlap - lap;
                d2[j] = rlap * rlap - lap * lap;
                de[j] = re * re - e * e;
            }
            for (int c = 0; c < nc; ++c) {
                int64_t* slot = cells + static_cast<size_t>(c) * kCellSlots + (top ? 1 : 2) * kTerms;
                int64_t sg = 0, s1 = 0, s2 = 0, se = 0;
                for (int j = c * s; j < (c + 1) * s; ++j) {
                    sg += dg[j];
                    s1 += d1[j];
                    s2 += d2[j];
                    se += de[j];
                }
                slot[0] += sg;
                slot[1] += s1;
                slot[2] += s2;
                slot[3] += se;
            }
        }
        // column deltas at every cell boundary (left column of cell b: column b s - 1
        // replicated from b s, horizontal taps clamped to the cell's first block; right column
        // of cell b - 1: the mirror image), with the true rows above and below
        const int16_t* bu = rw.bY.data() + static_cast<size_t>(iu) * 4 * nbp;
        const int16_t* bc = rw.bY.data() + static_cast<size_t>(ic) * 4 * nbp;
        const int16_t* bd = rw.bY.data() + static_cast<size_t>(id) * 4 * nbp;
        const int16_t* bh0 = rw.bH.data() + static_cast<size_t>(a0 - a_lo) * 4 * nbp;
        const int16_t* bh1 = rw.bH.data() + static_cast<size_t>(a1 - a_lo) * 4 * nbp;
        if (!(top || bottom)) {
            boundary_row(bu, bc, bd, bh0, bh1, v0, v1, nb, nbp, rw.bq32.data(), rw.bq64.data());
            continue;
        }
        // first / last row of the cell row: the deltas of this row alone (t = 0), then the same
        // with the row replicated for the missing neighbour row and the vertical taps clamped
        // to block row a (t = 1); a corner's fix (both replications - each one + true) is the
        // difference of the two
        const int16_t* bha = rw.bH.data() + static_cast<size_t>(a - a_lo) * 4 * nbp;
        for (int t = 0; t < 2; ++t) {
            std::fill(rw.bt32[t].begin(), rw.bt32[t].end(), 0);
            std::fill(rw.bt64[t].begin(), rw.bt64[t].end(), 0);
        }
        boundary_row(bu, bc, bd, bh0, bh1, v0, v1, nb, nbp, rw.bt32[0].data(), rw.bt64[0].data());
        boundary_row(top ? bc : bu, bc, bottom ? bc : bd, bha, bha, 4, 0, nb, nbp,
                     rw.bt32[1].data(), rw.bt64[1].data());
        const int32_t* t0 = rw.bt32[0].data();
        const int32_t* t1 = rw.bt32[1].data();
        const int64_t* e0 = rw.bt64[0].data();
        const int64_t* e1 = rw.bt64[1].data();
        for (int k = 0; k < 6; ++k)
            for (int b = 0; b < nb; ++b) rw.bq32[k * nbp + b] += t0[k * nbp + b];
        for (int k = 0; k < 2; ++k)
            for (int b = 0; b < nb; ++b) rw.bq64[k * nbp + b] += e0[k * nbp + b];
        for (int c = 0; c < nc; ++c) {
            int64_t* fix = cells + static_cast<size_t>(c) * kCellSlots + (5 + (bottom ? 2 : 0)) * kTerms;
            for (int side = 0; side < 2; ++side, fix += kTerms) {
                const int b = side == 0 ? c : c + 1, o = side == 0 ? 0 : 3;
                for (int k = 0; k < 3; ++k)
                    fix[k] = static_cast<int64_t>(t1[(o + k) * nbp + b]) - t0[(o + k) * nbp + b];
                fix[3] = e1[side * nbp + b] - e0[side * nbp + b];
            }
        }
    }
    // the column-delta sums -> per cell: left column at boundary c, right column at c + 1
    for (int c = 0; c < nc; ++c) {
        int64_t* cell = cells + static_cast<size_t>(c) * kCellSlots;
        for (int side = 0; side < 2; ++side) {
            const int b = side == 0 ? c : c + 1, o = side == 0 ? 0 : 3;
            int64_t* slot = cell + (3 + side) * kTerms;
            for (int k = 0; k < 3; ++k) slot[k] += rw.bq32[(o + k) * nbp + b];
            slot[3] += rw.bq64[side * nbp + b];
        }
    }
    // the column accumulators -> per-cell sums of the true terms
    for (int c = 0; c < nc; ++c) {
        int64_t* cell = cells + static_cast<size_t>(c) * kCellSlots;
        const int32_t* ag = rw.acc32.data();
        const int64_t* ae = rw.acc64.data();
        const int hw = Wc / 2;
        int64_t sg = 0, s1 = 0, s2 = 0, se = 0;
        for (int k = c * s / 2; k < (c + 1) * s / 2; ++k) {  // pairs of pixel columns
            sg += ag[k];
            s1 += ag[hw + k];
            s2 += ag[2 * hw + k];
            se += ae[k];
        }
        cell[0] += sg;
        cell[1] += s1;
        cell[2] += s2;
        cell[3] += se;
    }
    // histograms, one cell at a time: 4 interleaved 16-bit partial histograms (2 KiB, in L1;
    // each counts at most s^2 / 4 <= 16384 pixels since s <= 256)
    uint16_t* __restrict h4 = rw.hist4;
    std::fill(h4, h4 + 4 * kBins, uint16_t{0});  // kept zero between cells (see below)
    for (int c = 0; c < nc; ++c) {
        const uint8_t* __restrict src = plane + static_cast<int64_t>(y0) * W + c * s;
        if (s % 32 == 0) {  // the usual cell sides: 32 pixels a step
            for (int y = 0; y < s; ++y, src += W) {
                for (int j = 0; j < s; j += 32) {
                    for (int k = 0; k < 32; k += 4) {
                        ++h4[src[j + k]];
                        ++h4[kBins + src[j + k + 1]];
                        ++h4[2 * kBins + src[j + k + 2]];
                        ++h4[3 * kBins + src[j + k + 3]];
                    }
                }
            }
        } else {
            for (int y = 0; y < s; ++y, src += W) {
                for (int j = 0; j < s; j += 4) {  // s is a multiple of 4
                    ++h4[src[j]];
                    ++h4[kBins + src[j + 1]];
                    ++h4[2 * kBins + src[j + 2]];
                    ++h4[3 * kBins + src[j + 3]];
                }
            }
        }
        // the first and last non-empty bin (a cell holds at least one pixel)
        int ymin = 0, ymax = kBins - 1;
        cell_span(h4, ymin, ymax);
        const int lo = ymin & ~7, hi = (ymax + 8) & ~7;  // blocks of 8 bins
        const size_t idx = static_cast<size_t>(r) * nc + c;
        int32_t* __restrict hist = g.hists.get() + idx * kBins;
        // the cell's histogram, sum Y and sum Y^2 (uint32 lanes: at most s^2 <= 2^16 pixels of
        // Y^2 <= 65025, below 2^32)
        uint32_t m1 = 0, m2 = 0;
        std::fill(hist, hist + lo, 0);
#pragma omp simd reduction(+ : m1, m2)
        for (int v = lo; v < hi; ++v) {
            const uint32_t h = static_cast<uint32_t>(h4[v]) + h4[kBins + v] + h4[2 * kBins + v] + h4[3 * kBins + v];
            hist[v] = static_cast<int32_t>(h);
            m1 += static_cast<uint32_t>(v) * h;
            m2 += static_cast<uint32_t>(v * v) * h;
        }
        std::fill(hist + hi, hist + kBins, 0);
        for (int k = 0; k < 4; ++k) std::fill(h4 + k * kBins + lo, h4 + k * kBins + hi, uint16_t{0});
        g.moms[2 * idx] = m1;
        g.moms[2 * idx + 1] = m2;
        g.span[2 * idx] = ymin;
        g.span[2 * idx + 1] = ymax;
    }
}

// Statistics of the aligned tile with top-left cell (r, c) spanning m x m cells.
TF_TARGET_CLONES void grid_tile(const Grid& g, int r, int c, int m, const std::vector<double>& clogc,
                                float* out) {
    const int nc = g.nc, size = m * g.s;
    int64_t q[kTerms] = {0, 0, 0, 0};
    int64_t s1 = 0, s2 = 0;
    int lo = kBins, hi = 0;
    for (int dr = 0; dr < m; ++dr) {
        for (int dc = 0; dc < m; ++dc) {
            const size_t idx = static_cast<size_t>(r + dr) * nc + (c + dc);
            const int64_t* cell = g.sums.get() + idx * kCellSlots;
            for (int k = 0; k < kTerms; ++k) q[k] += cell[k];
            if (dr == 0)
                for (int k = 0; k < kTerms; ++k) q[k] += cell[kTerms + k];
            if (dr == m - 1)
                for (int k = 0; k < kTerms; ++k) q[k] += cell[2 * kTerms + k];
            if (dc == 0)
                for (int k = 0; k < kTerms; ++k) q[k] += cell[3 * kTerms + k];
            if (dc == m - 1)
                for (int k = 0; k < kTerms; ++k) q[k] += cell[4 * kTerms + k];
            s1 += g.moms[2 * idx];
            s2 += g.moms[2 * idx + 1];
            lo = std::min(lo, g.span[2 * idx]);
            hi = std::max(hi, g.span[2 * idx + 1]);
        }
    }
    // the tile's histogram over its non-empty bins only, in blocks of 8 (lo rounded down, hi up)
    lo &= ~7;
    hi = (hi + 8) & ~7;
    alignas(32) int32_t hist[kBins];
    {
        const int32_t* __restrict h = g.hists.get() + (static_cast<size_t>(r) * nc + c) * kBins;
        for (int v = lo; v < hi; ++v) hist[v] = h[v];
    }
    for (int dr = 0; dr < m; ++dr) {
        for (int dc = dr == 0 ? 1 : 0; dc < m; ++dc) {
            const int32_t* __restrict h = g.hists.get() + (static_cast<size_t>(r + dr) * nc + (c + dc)) * kBins;
            for (int v = lo; v < hi; ++v) hist[v] += h[v];
        }
    }
    // corner fixes: the tile's top-left corner is cell (r, c)'s, and so on
    const int64_t* tl = g.sums.get() + (static_cast<size_t>(r) * nc + c) * kCellSlots + 5 * kTerms;
    const int64_t* tr = g.sums.get() + (static_cast<size_t>(r) * nc + c + m - 1) * kCellSlots + 6 * kTerms;
    const int64_t* bl = g.sums.get() + (static_cast<size_t>(r + m - 1) * nc + c) * kCellSlots + 7 * kTerms;
    const int64_t* br = g.sums.get() + (static_cast<size_t>(r + m - 1) * nc + c + m - 1) * kCellSlots + 8 * kTerms;
    for (int k = 0; k < kTerms; ++k) q[k] += tl[k] + tr[k] + bl[k] + br[k];
    const bool table = static_cast<size_t>(size) * size < clogc.size();
    const double slogs = sum_clogc(hist, lo, hi, table ? clogc.data() : nullptr);
    finish_tile(size, size, size, size, 2, s1, s2, slogs, q[0], q[1], q[2], static_cast<double>(q[3]), g.log2n, out);
}

int gcd_int(int a, int b) {
    while (b) {
        const int t = a % b;
        a = b;
        b = t;
    }
    return a;
}

// The cell side for the grid path, or 0 when it does not pay: the largest divisor s of the
// tile side that is a multiple of 4 and at most 256 such that the tiles aligned to s (full size, inside the cell region) cover
// the cell region at least about twice (every pixel of the image would otherwise be read fewer
// times by the per-tile path than by the grid pass).
struct CellChoice {
    int s = 0;                          // 0 = per tile
    int64_t y0 = 0, x0 = 0, h = 0, w = 0;  // the cell region: bounding box of the aligned tiles
};

CellChoice choose_cell(int64_t H, int64_t W, const int32_t* c, int64_t n, int size, int f) {
    CellChoice best;
    if (f != 2 || size < 8 || n < 4) return best;
    for (int s = std::min(size, 256); s >= 4; --s) {
        if (size % s || s % 4) continue;
        int64_t aligned = 0, ylo = H, yhi = 0, xlo = W, xhi = 0;
        for (int64_t t = 0; t < n; ++t) {
            const int64_t y = c[2 * t], x = c[2 * t + 1];
            if (y % s == 0 && x % s == 0 && y + size <= H && x + size <= W) {
                ++aligned;
                ylo = std::min(ylo, y);
                yhi = std::max(yhi, y + size);
                xlo = std::min(xlo, x);
                xhi = std::max(xhi, x + size);
            }
        }
        if (aligned > 0 && static_cast<double>(aligned) * size * size >=
                               1.5 * static_cast<double>(yhi - ylo) * static_cast<double>(xhi - xlo)) {
            best.s = s;
            best.y0 = ylo;
            best.x0 = xlo;
            best.h = yhi - ylo;
            best.w = xhi - xlo;
            break;
        }
    }
    return best;
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
    // the grid path serves the statistics only (tile_histograms stays per tile)
    const CellChoice choice = (out != nullptr && hist == nullptr && H < (1 << 30) && W < (1 << 30))
                                  ? choose_cell(H, W, c, n, size, f) : CellChoice();
    const int cell = choice.s;
    const bool use_plane = C == 3 && (cell > 0 || 2.0 * covered >= static_cast<double>(H) * W);
    // written in full by luma_rows below (no zero fill: that would be one more pass over it)
    std::unique_ptr<uint8_t[]> plane(use_plane ? new uint8_t[static_cast<size_t>(H * W)] : nullptr);
    const uint8_t* src = use_plane ? plane.get() : data;
    const std::vector<double>& clogc = clogc_table();  // thread-safe static initialisation
    // The main grid (origin 0, 0) and, for the tile row / column that tile_grid snaps to the
    // bottom / right edge off the grid, a band grid of one tile's height / width there.
    std::vector<Grid> grids;
    const int m = cell > 0 ? size / cell : 0;
    auto add_grid = [&](int64_t oy, int64_t ox, int64_t h, int64_t w) {
        Grid g;
        g.s = cell;
        g.oy = oy;
        g.ox = ox;
        g.nr = static_cast<int>(h / cell);
        g.nc = static_cast<int>(w / cell);
        g.log2n = std::log2(static_cast<double>(size) * size);
        g.sums.reset(new int64_t[static_cast<size_t>(g.nr) * g.nc * kCellSlots]);
        g.hists.reset(new int32_t[static_cast<size_t>(g.nr) * g.nc * kBins]);
        g.moms.reset(new int64_t[static_cast<size_t>(g.nr) * g.nc * 2]);
        g.span.reset(new int32_t[static_cast<size_t>(g.nr) * g.nc * 2]);
        grids.push_back(std::move(g));
    };
    if (cell > 0) {
        add_grid(choice.y0, choice.x0, choice.h, choice.w);
        int64_t bottom = 0, right = 0;
        for (int64_t t = 0; t < n; ++t) {
            const int64_t y = c[2 * t], x = c[2 * t + 1];
            bottom += y == H - size && (y - choice.y0) % cell != 0 && (x - choice.x0) % cell == 0 &&
                      x >= choice.x0 && x + size <= choice.x0 + choice.w;
            right += x == W - size && (x - choice.x0) % cell != 0 && (y - choice.y0) % cell == 0 &&
                     y >= choice.y0 && y + size <= choice.y0 + choice.h;
        }
        // a band costs about one tile row / column of pixels of the region, its tiles m^2 cells
        if (bottom * m >= choice.w / cell) add_grid(H - size, choice.x0, size, choice.w);
        if (right * m >= choice.h / cell) add_grid(choice.y0, W - size, choice.h, size);
    }
    // which grid (and cell) serves tile t, or -1 for the per-tile path
    auto grid_of = [&](int64_t y, int64_t x) -> int {
        for (size_t k = 0; k < grids.size(); ++k) {
            const Grid& g = grids[k];
            const int64_t ry = y - g.oy, rx = x - g.ox;
            if (ry >= 0 && rx >= 0 && ry % cell == 0 && rx % cell == 0 &&
                ry + size <= static_cast<int64_t>(g.nr) * cell &&
                rx + size <= static_cast<int64_t>(g.nc) * cell)
                return static_cast<int>(k);
        }
        return -1;
    };
    std::vector<std::pair<int, int>> cell_rows;  // (grid, cell row) work items
    for (size_t k = 0; k < grids.size(); ++k)
        for (int r = 0; r < grids[k].nr; ++r) cell_rows.emplace_back(static_cast<int>(k), r);
    const int64_t n_rows = static_cast<int64_t>(cell_rows.size());
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
                luma_rows(data, W, r, std::min(H, r + kRows), plane.get());
            // implicit barrier: the plane is complete before any tile reads it
        }
        if (n_rows > 0) {
            RowWork rw;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
            for (int64_t i = 0; i < n_rows; ++i) {
                Grid& g = grids[cell_rows[i].first];
                grid_cell_row(src + g.oy * W + g.ox, W, g, cell_rows[i].second, rw);
            }
            // implicit barrier: every cell is complete before the tiles are assembled
        }
        const int tc = use_plane ? 1 : C;
        Workspace ws;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 16)
#endif
        for (int64_t t = 0; t < n; ++t) {
            const int y = c[2 * t], x = c[2 * t + 1];
            const int k = grids.empty() ? -1 : grid_of(y, x);
            if (k >= 0) {
                const Grid& g = grids[k];
                grid_tile(g, static_cast<int>((y - g.oy) / cell),
                          static_cast<int>((x - g.ox) / cell), m, clogc, out + t * kNumStats);
            } else {
                tile_one(src, H, W, tc, y, x, size, f, clogc, ws,
                         out ? out + t * kNumStats : nullptr, hist ? hist + t * kBins : nullptr);
            }
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

int grid_cell(ImageArray img, CoordArray coords, int size, int interp_scale) {
    check_args(img, coords, size, interp_scale);
    return choose_cell(static_cast<int64_t>(img.shape(0)), static_cast<int64_t>(img.shape(1)),
                       coords.data(), static_cast<int64_t>(coords.shape(0)), size, interp_scale).s;
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
    m.def("grid_cell", &grid_cell, nb::arg("img").noconvert(), nb::arg("coords").noconvert(),
          nb::arg("size"), nb::arg("interp_scale") = 2,
          "Cell side of the shared-cell (grid) path tile_stats takes for these tiles, 0 = per tile.");
    m.def("has_openmp", &has_openmp, "True when the extension was built with OpenMP.");
}
