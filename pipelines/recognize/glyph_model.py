"""The glyph CNN (``models/glyphs/glyphs.onnx``), run by OpenCV's dnn module.

One network, one output: per glyph image (1 × SIZE × SIZE, ``glyphs.normalize``) the
logits of the glyph classes followed by 2 style logits (hand, print). ``glyphs.json``
beside it says the classes, the input size, the temperatures fitted on the validation
split, and the sha256 of the ONNX file; a missing file or a sha256 that does not match
raises ``ConfigError`` naming the file. Loaded once per process, on first use.

Threads: OpenCV's dnn runs a small batch on the calling thread's pool (``cv2.setNumThreads``,
process-wide). Pages are read in parallel processes, one per core: a worker should run
``cv2.setNumThreads(1)`` (as ``synth.scan.init_worker`` does); this module does not
change the process's setting. Measured: models/glyphs/MODEL_CARD.md, "Runtime".
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipelines.errors import ConfigError

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "glyphs"
ONNX_NAME = "glyphs.onnx"
META_NAME = "glyphs.json"
STYLES = ("hand", "print")
BATCH = 256
"""Glyphs per forward pass (memory stays small whatever the page)."""


@dataclass(frozen=True)
class Meta:
    classes: tuple[str, ...]
    input_size: int
    fit: int
    temperature: float
    style_temperature: float
    sha256: str
    version: str
    calibration: dict[str, tuple[float, float]]
    """Per field type, (a, b) of the cell-level map p → σ(a·logit p + b), fitted on
    validation cells; a type not listed is left as decoded."""


@dataclass
class GlyphModel:
    net: cv2.dnn.Net
    meta: Meta
    path: Path

    @property
    def classes(self) -> tuple[str, ...]:
        return self.meta.classes

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Raw outputs (n, classes + 2) of a batch (n, 1, S, S) float32."""
        n = len(x)
        out = np.zeros((n, len(self.meta.classes) + 2), np.float32)
        for i in range(0, n, BATCH):
            chunk = np.ascontiguousarray(x[i:i + BATCH], dtype=np.float32)
            self.net.setInput(chunk)
            out[i:i + len(chunk)] = self.net.forward().reshape(len(chunk), -1)
        return out

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated class probabilities (n, classes) and P(hand) (n,) of a batch."""
        if len(x) == 0:
            return np.zeros((0, len(self.meta.classes)), np.float32), np.zeros(0, np.float32)
        z = self.logits(x)
        k = len(self.meta.classes)
        return softmax(z[:, :k] / self.meta.temperature), hand_probability(z[:, k:], self.meta)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def style_log_odds(style_logits: np.ndarray, meta: Meta) -> np.ndarray:
    """log P(hand) / P(print) per glyph, temperature applied."""
    return (style_logits[:, 0] - style_logits[:, 1]) / meta.style_temperature


def hand_probability(style_logits: np.ndarray, meta: Meta) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-style_log_odds(style_logits, meta)))


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(MODEL_DIR.parents[1]))
    except ValueError:
        return str(path)


def read_meta(model_dir: Path | None = None) -> Meta:
    """``glyphs.json``, checked; ``ConfigError`` naming the file when it is missing or malformed."""
    path = (model_dir or MODEL_DIR) / META_NAME
    if not path.exists():
        raise ConfigError(f"{_rel(path)} is missing: train the glyph model (`make train-glyphs`)")
    try:
        d = json.loads(path.read_text())
        calibration = {str(t): (float(ab[0]), float(ab[1])) for t, ab in d.get("calibration", {}).items()}
        return Meta(tuple(d["classes"]), int(d["input_size"]), int(d["fit"]), float(d["temperature"]),
                    float(d["style_temperature"]), str(d["sha256"]), str(d["version"]), calibration)
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{_rel(path)} is malformed ({type(exc).__name__}: {exc}): "
                          "retrain (`make train-glyphs`)") from exc


_lock = threading.Lock()
_loaded: dict[Path, GlyphModel] = {}


def load(model_dir: Path | None = None) -> GlyphModel:
    """The model of ``model_dir`` (default ``models/glyphs``), loaded and checked once per process."""
    d = (model_dir or MODEL_DIR).resolve()
    with _lock:
        if d not in _loaded:
            _loaded[d] = _load(d)
        return _loaded[d]


def _load(d: Path) -> GlyphModel:
    from pipelines.recognize import glyphs  # the input geometry the model must have been trained on

    meta = read_meta(d)
    path = d / ONNX_NAME
    if not path.exists():
        raise ConfigError(f"{_rel(path)} is missing: train the glyph model (`make train-glyphs`)")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != meta.sha256:
        raise ConfigError(f"{_rel(path)} has sha256 {digest[:16]}…, but {_rel(d / META_NAME)} says "
                          f"{meta.sha256[:16]}…: the model and its description do not belong together; "
                          "retrain (`make train-glyphs`) or restore both files")
    if (meta.input_size, meta.fit) != (glyphs.SIZE, glyphs.FIT):
        raise ConfigError(f"{_rel(d / META_NAME)}: input {meta.input_size}/{meta.fit}, but "
                          f"pipelines/recognize/glyphs.py normalizes to {glyphs.SIZE}/{glyphs.FIT}: retrain")
    try:
        net = cv2.dnn.readNetFromONNX(str(path))
    except cv2.error as exc:
        raise ConfigError(f"{_rel(path)}: OpenCV cannot read it ({exc})") from exc
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    return GlyphModel(net, meta, path)


def clear_cache() -> None:
    """Forget loaded models (tests that swap the files)."""
    with _lock:
        _loaded.clear()
