"""The ``@triton.jit`` kernels of tripled_fast.kernels (this module imports triton).

Kept apart from the launchers in :mod:`.stats` and :mod:`.kcenter`, which import it only when
a kernel is launched, so the references and argument checks there work without triton and
importing them never fixes the Triton mode (``TRITON_INTERPRET`` is read when the kernels
below are decorated, i.e. when this module is first imported).
"""
import triton
import triton.language as tl


@triton.jit
def _bilinear_tap(i, n_in, F: tl.constexpr):
    # src = (i + 0.5) / F - 0.5 = (2i + 1 - F) / 2F, clamped at 0; weights scaled by 2F.
    num = tl.maximum(2 * i + 1 - F, 0)
    i0 = num // (2 * F)
    lam = num - i0 * (2 * F)
    i1 = tl.minimum(i0 + 1, n_in - 1)
    return i0, i1, 2 * F - lam, lam


@triton.jit
def _tile_stats_kernel(img_ptr, coords_ptr, out_ptr, hist_ptr, ybuf_ptr, sbuf_ptr,
                       n_tiles, H, W, size,
                       C: tl.constexpr, F: tl.constexpr,
                       BR: tl.constexpr, BW: tl.constexpr,
                       BRD: tl.constexpr, BWD: tl.constexpr):
    pid = tl.program_id(0)
    nprog = tl.num_programs(0)
    sd = size // F                                    # row stride of the block-sum scratch
    ybuf = ybuf_ptr + pid.to(tl.int64) * size * size
    sbuf = sbuf_ptr + pid.to(tl.int64) * sd * sd
    cols = tl.arange(0, BW)
    colsd = tl.arange(0, BWD)
    bins = tl.arange(0, 256)
    scale = 4 * F * F * F * F
    for t in range(pid, n_tiles, nprog):
        y0 = tl.load(coords_ptr + 2 * t)
        x0 = tl.load(coords_ptr + 2 * t + 1)
        h = tl.minimum(size, H - y0)
        w = tl.minimum(size, W - x0)
        tl.debug_barrier()                            # scratch of the previous tile is free

        # 1. image -> Y8 scratch + histogram (the only read of the image)
        hist = tl.zeros([256], dtype=tl.int32)
        for r0 in range(0, size, BR):
            rows = r0 + tl.arange(0, BR)
            m = (rows[:, None] < h) & (cols[None, :] < w)
            pix = ((y0 + rows).to(tl.int64)[:, None] * W + (x0 + cols)[None, :]) * C
            if C == 3:
                r = tl.load(img_ptr + pix, mask=m, other=0).to(tl.int32)
                g = tl.load(img_ptr + pix + 1, mask=m, other=0).to(tl.int32)
                b = tl.load(img_ptr + pix + 2, mask=m, other=0).to(tl.int32)
                yv = (77 * r + 150 * g + 29 * b + 128) >> 8
            else:
                yv = tl.load(img_ptr + pix, mask=m, other=0).to(tl.int32)
            tl.store(ybuf + rows[:, None] * size + cols[None, :], yv.to(tl.uint8), mask=m)
            hist += tl.histogram(tl.reshape(yv, [BR * BW]), 256,
                                 mask=tl.reshape(m, [BR * BW]))
        tl.debug_barrier()

        # 2. f x f block sums of the crop -> int32 scratch
        hd = h // F
        wd = w // F
        for q0 in range(0, sd, BRD):
            rd = q0 + tl.arange(0, BRD)
            md = (rd[:, None] < hd) & (colsd[None, :] < wd)
            s = tl.zeros([BRD, BWD], dtype=tl.int32)
            for u in range(F):
                for v in range(F):
                    s += tl.load(ybuf + (rd * F + u)[:, None] * size
                                 + (colsd * F + v)[None, :], mask=md, other=0).to(tl.int32)
            tl.store(sbuf + rd[:, None] * sd + colsd[None, :], s, mask=md)
        tl.debug_barrier()

        # 3. stencils and interpolation error over the scratch
        hc = hd * F
        wc = wd * F
        cm = tl.maximum(cols - 1, 0)
        cp = tl.minimum(cols + 1, w - 1)
        b0, b1, wc0, wc1 = _bilinear_tap(cols, wd, F)
        acc_g = tl.zeros([BR], dtype=tl.int64)
        acc_l1 = tl.zeros([BR], dtype=tl.int64)
        acc_l2 = tl.zeros([BR], dtype=tl.int64)
        acc_e = tl.zeros([BR], dtype=tl.float64)
        for r0 in range(0, size, BR):
            rows = r0 + tl.arange(0, BR)
            m = (rows[:, None] < h) & (cols[None, :] < w)
            rm = (tl.maximum(rows - 1, 0) * size)[:, None]
            rc = (rows * size)[:, None]
            rp = (tl.minimum(rows + 1, h - 1) * size)[:, None]
            c0 = cols[None, :]
            c_m = cm[None, :]
            c_p = cp[None, :]
            p00 = tl.load(ybuf + rm + c_m, mask=m, other=0).to(tl.int32)
            p01 = tl.load(ybuf + rm + c0, mask=m, other=0).to(tl.int32)
            p02 = tl.load(ybuf + rm + c_p, mask=m, other=0).to(tl.int32)
            p10 = tl.load(ybuf + rc + c_m, mask=m, other=0).to(tl.int32)
            p11 = tl.load(ybuf + rc + c0, mask=m, other=0).to(tl.int32)
            p12 = tl.load(ybuf + rc + c_p, mask=m, other=0).to(tl.int32)
            p20 = tl.load(ybuf + rp + c_m, mask=m, other=0).to(tl.int32)
            p21 = tl.load(ybuf + rp + c0, mask=m, other=0).to(tl.int32)
            p22 = tl.load(ybuf + rp + c_p, mask=m, other=0).to(tl.int32)
            gx = (p02 - p00) + 2 * (p12 - p10) + (p22 - p20)
            gy = (p20 + 2 * p21 + p22) - (p00 + 2 * p01 + p02)
            lap = p01 + p21 + p10 + p12 - 4 * p11
            acc_g += tl.sum(tl.where(m, gx * gx + gy * gy, 0).to(tl.int64), axis=1)
            acc_l1 += tl.sum(tl.where(m, lap, 0).to(tl.int64), axis=1)
            acc_l2 += tl.sum(tl.where(m, lap * lap, 0).to(tl.int64), axis=1)

            mi = (rows[:, None] < hc) & (cols[None, :] < wc)
            a0, a1, wr0, wr1 = _bilinear_tap(rows, hd, F)
            s00 = tl.load(sbuf + (a0 * sd)[:, None] + b0[None, :], mask=mi, other=0)
            s01 = tl.load(sbuf + (a0 * sd)[:, None] + b1[None, :], mask=mi, other=0)
            s10 = tl.load(sbuf + (a1 * sd)[:, None] + b0[None, :], mask=mi, other=0)
            s11 = tl.load(sbuf + (a1 * sd)[:, None] + b1[None, :], mask=mi, other=0)
            top = wc0[None, :] * s00 + wc1[None, :] * s01
            bot = wc0[None, :] * s10 + wc1[None, :] * s11
            up = wr0[:, None] * top + wr1[:, None] * bot
            d = tl.where(mi, scale * p11 - up, 0).to(tl.float64)
            acc_e += tl.sum(d * d, axis=1)

        # 4. statistics
        n = (h * w).to(tl.int64)
        nf = n.to(tl.float64)
        tl.store(hist_ptr + tl.cast(t, tl.int64) * 256 + bins, hist)
        hist64 = hist.to(tl.int64)
        s1 = tl.sum(hist64 * bins, axis=0)
        s2 = tl.sum(hist64 * (bins * bins), axis=0)
        mean = s1.to(tl.float64) / nf
        var = (n * s2 - s1 * s1).to(tl.float64) / (nf * nf)
        p = hist.to(tl.float32) / n.to(tl.float32)
        ent = -tl.sum(tl.where(hist > 0, p * tl.log2(tl.where(hist > 0, p, 1.0)), 0.0),
                      axis=0)
        g2 = tl.sum(acc_g, axis=0)
        l1 = tl.sum(acc_l1, axis=0)
        l2 = tl.sum(acc_l2, axis=0)
        lap_var = (n * l2 - l1 * l1).to(tl.float64) / (nf * nf)
        npix_c = (hc * wc).to(tl.float64)
        ierr = tl.sum(acc_e, axis=0) / (tl.maximum(npix_c, 1.0) * scale * scale)
        o = out_ptr + tl.cast(t, tl.int64) * 6
        tl.store(o + 0, mean.to(tl.float32))
        tl.store(o + 1, var.to(tl.float32))
        tl.store(o + 2, ent.to(tl.float32))
        tl.store(o + 3, (g2.to(tl.float64) / nf).to(tl.float32))
        tl.store(o + 4, lap_var.to(tl.float32))
        tl.store(o + 5, ierr.to(tl.float32))


@triton.jit(do_not_specialize=["center"])
def _kcenter_update_kernel(x_ptr, dist_ptr, center, n, d, stride_n,
                           BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    pid = tl.program_id(0)
    rows = pid * BLOCK_N + tl.arange(0, BLOCK_N)
    row_ok = rows < n
    cols = tl.arange(0, BLOCK_D)
    acc = tl.zeros([BLOCK_N, BLOCK_D], dtype=tl.float32)
    row_base = x_ptr + rows.to(tl.int64)[:, None] * stride_n
    c_base = x_ptr + center.to(tl.int64) * stride_n
    for d0 in range(0, d, BLOCK_D):
        c_ok = (d0 + cols) < d
        xv = tl.load(row_base + (d0 + cols)[None, :], mask=row_ok[:, None] & c_ok[None, :],
                     other=0.0)
        cv = tl.load(c_base + d0 + cols, mask=c_ok, other=0.0)
        diff = xv - cv[None, :]
        acc += diff * diff
    dist = tl.sum(acc, axis=1)
    old = tl.load(dist_ptr + rows, mask=row_ok, other=0.0)
    tl.store(dist_ptr + rows, tl.minimum(old, dist), mask=row_ok)
