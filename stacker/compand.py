"""The int8 code chroma's finest band is stored in: q = sign(v)·√(A·|v|).

Fine colour detail is small, and a byte per value keeps full-resolution colour within
memory.  Steps are a sixteenth of a code value near zero and ~1 % of the value for strong
colour edges, up to ±4032 fixed-point units (±252 code values).
"""

from __future__ import annotations

import cv2
import numpy as np

_A = 4.0


def _compand_float(values: np.ndarray) -> np.ndarray:
    q = np.sqrt(np.abs(values) * np.float32(_A))
    return (np.sign(values) * np.minimum(np.rint(q), 127)).astype(np.int8)


# Lookup tables: int16 (read as uint16, two's complement) → int8 code, and back.
_COMPAND_LUT = _compand_float(np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.float32))
_EXPAND_LUT = (lambda q: q * np.abs(q) / np.float32(_A))(
    np.arange(256, dtype=np.uint8).view(np.int8).astype(np.float32)
)


def compand(values: np.ndarray) -> np.ndarray:
    """Fixed-point values (int16, or floats) → int8 codes."""
    if values.dtype == np.int16:
        return np.take(_COMPAND_LUT, values.view(np.uint16))
    return _compand_float(values)


def expand(stored: np.ndarray) -> np.ndarray:
    """int8 codes → float32 fixed-point values (cv2.LUT: several times numpy's take)."""
    return cv2.LUT(stored.view(np.uint8), _EXPAND_LUT)
