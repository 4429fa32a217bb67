"""Data, NumPy only (the trainer moves batches to the device):

    synthetic  gaussian1d, ring, grid (the 1-D / 2-D sets) and mode_stats (modes covered, high-quality share)
    idx        parse_idx / read_idx: LeCun's IDX format, corrupt files refused with a DataError
    images     find_files (local folders, else a checked download into the cache), load_images (scaled float32)
"""
from .idx import IDX_DTYPES, DataError, parse_idx, read_idx
from .images import (
                     CLASS_NAMES,
                     FILES,
                     MIRRORS,
                     SHA256,
                     SYSTEM_DIR,
                     cache_dir,
                     download,
                     find_files,
                     image_size,
                     load_images,
                     load_uint8,
                     search_dirs,
)
from .synthetic import MODES, SYNTHETIC, gaussian1d, gaussian1d_pdf, grid, mode_stats, ring

__all__ = ["CLASS_NAMES", "DataError", "FILES", "IDX_DTYPES", "MIRRORS", "MODES", "SHA256", "SYNTHETIC", "SYSTEM_DIR",
           "cache_dir", "download", "find_files", "gaussian1d", "gaussian1d_pdf", "grid", "image_size",
           "load_images", "load_uint8", "mode_stats", "parse_idx", "read_idx", "ring", "search_dirs"]
