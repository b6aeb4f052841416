"""The embedded default dataset: scikit-image's bundled photos with synthesised degradations.

No download: every photo below ships inside the scikit-image wheel. The demo is an all-in-one
(multi-task) paired set: the same clean training photos are degraded three ways (Gaussian noise,
rain streaks, low light), each a task-tagged source; three other photos form the test set with
the same degradations.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import DataConfig, SourceConfig
from ..runfiles import atomic_path

#: photos used for training / testing (names of ``skimage.data`` functions)
TRAIN_PHOTOS = (
    "astronaut", "coffee", "rocket", "brick", "grass", "gravel", "hubble_deep_field",
    "immunohistochemistry", "retina", "moon", "page", "coins",
)
TEST_PHOTOS = ("chelsea", "camera", "text")

#: task tag -> degradation spec
DEMO_TASKS = {
    "denoise": "noise:sigma=25",
    "derain": "rain",
    "lowlight": "lowlight",
}

MAX_SIDE = 512  # large photos (retina 1411 px, hubble 1000 px) are downscaled to keep the demo fast


def _load_photo(name: str) -> np.ndarray:
    import skimage.data
    from PIL import Image

    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = np.ascontiguousarray(img[..., :3].astype(np.uint8))
    h, w = img.shape[:2]
    if max(h, w) > MAX_SIDE:
        s = MAX_SIDE / max(h, w)
        img = np.asarray(Image.fromarray(img).resize((round(w * s), round(h * s)), Image.LANCZOS))
    return img


def write_demo_images(root: str | Path) -> tuple[Path, Path]:
    """Write the clean demo photos as PNG under ``root/clean_train`` and ``root/clean_test``.

    Existing files are kept (the content is deterministic), so calling this again is cheap.
    Returns the two folders.
    """
    from PIL import Image

    root = Path(root)
    folders = []
    for sub, names in (("clean_train", TRAIN_PHOTOS), ("clean_test", TEST_PHOTOS)):
        folder = root / sub
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            out = folder / f"{name}.png"
            if out.exists():
                continue
            with atomic_path(out) as tmp:
                Image.fromarray(_load_photo(name)).save(tmp, format="PNG")
        folders.append(folder)
    return folders[0], folders[1]


def demo_data_config(root: str | Path) -> DataConfig:
    """Write the demo photos (if needed) and return the multi-task DataConfig that uses them."""
    train_dir, test_dir = write_demo_images(root)
    sources = [
        SourceConfig(kind="degrade", gt=str(train_dir), degrade=spec, task=task, name=task)
        for task, spec in DEMO_TASKS.items()
    ]
    tests = [
        SourceConfig(kind="degrade", gt=str(test_dir), degrade=spec, task=task, name=f"test_{task}")
        for task, spec in DEMO_TASKS.items()
    ]
    return DataConfig(sources=sources, test=tests, holdout=0.0, color="rgb")
