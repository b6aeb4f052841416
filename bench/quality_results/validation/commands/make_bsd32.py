"""Build the (b) natural-photo validation folder: the BSD100 HR photos that are not in CBSD68.

BSD68 / CBSD68 are 68 of the 100 BSD300 test photos, so B100 (the (c) pool) holds every CBSD68
photo plus 32 others. Those 32 are natural photos from the test set's source but none of its
images. They are found by content (48x32 gray thumbnails, landscape-oriented, normalised
correlation against every CBSD68 photo; the file names differ), and written as symlinks to the
shared files (nothing is copied into the project). The script refuses to write when the split is
not clear-cut (a best match between 0.9 and 0.98).

usage: python make_bsd32.py OUT_DIR   (run from the repository root)
"""
import sys
from pathlib import Path

import numpy as np
from PIL import Image

CBSD68 = Path("../shared/data/denoise/CBSD68")
B100 = Path("../shared/data/sr/BSD100_x4/HR")


def thumb(path: Path) -> np.ndarray:
    im = Image.open(path).convert("L")
    if im.size[1] > im.size[0]:
        im = im.transpose(Image.ROTATE_90)
    a = np.asarray(im.resize((48, 32), Image.BILINEAR), np.float64).ravel()
    a -= a.mean()
    return a / (np.linalg.norm(a) + 1e-9)


def main(out: Path) -> None:
    test = np.stack([thumb(p) for p in sorted(CBSD68.glob("*.png"))])
    others, lowest_match, highest_other = [], 1.0, 0.0
    for p in sorted(B100.glob("*.png")):
        best = float((test @ thumb(p)).max())
        if 0.9 < best < 0.98:
            sys.exit(f"{p}: best CBSD68 correlation {best:.3f} is neither a copy nor a different photo")
        if best >= 0.98:
            lowest_match = min(lowest_match, best)
        else:
            others.append(p)
            highest_other = max(highest_other, best)
    out.mkdir(parents=True, exist_ok=True)
    for p in others:
        link = out / p.name
        if not link.exists():
            link.symlink_to(p.resolve())
    print(f"{len(others)} B100 photos not in CBSD68 -> {out} (CBSD68 copies: correlation >= "
          f"{lowest_match:.4f}; the others: <= {highest_other:.3f})")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
