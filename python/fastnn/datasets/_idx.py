"""The IDX file format of MNIST and Fashion-MNIST: ``read_idx`` (gzip or plain) and
``write_idx``. Header, big-endian: two zero bytes, a dtype code, the number of dimensions,
then one uint32 per dimension; the values follow, big-endian, row-major.

Imports only the standard library and NumPy, so that ``fastnn.bench`` can load this file
without importing fastnn.
"""

import gzip
import zlib
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "write_idx"]

# IDX dtype codes and the big-endian NumPy dtypes they stand for
DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
          0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_CODES = {dt.newbyteorder("="): code for code, dt in DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def _open(path):
    with open(path, "rb") as f:
        compressed = f.read(2) == _GZIP_MAGIC
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def _read_exactly(f, n):
    """Up to n bytes (fewer only at the end of the data)."""
    chunks, left = [], n
    while left:
        chunk = f.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_into(f, array):
    """Fill array's bytes from f; the number of bytes read."""
    view, filled = memoryview(array).cast("B"), 0
    while filled < len(view):
        n = f.readinto(view[filled:])
        if not n:
            break
        filled += n
    return filled


def read_idx(path):
    """Read an IDX file (gzip-compressed or plain; detected from its first bytes).

    Args:
        path: the file's path (str or os.PathLike).

    Returns:
        numpy.ndarray: a writable array in native byte order, shaped by the header (e.g.
        ``uint8 (60000, 28, 28)`` for MNIST's training images).

    Raises:
        ValueError: naming the file, when the magic number or dtype code is wrong, or the
            data is shorter or longer than the header's dimensions say (also for a
            damaged gzip stream).
        FileNotFoundError: when the file does not exist.

    Example:
        >>> images = read_idx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
        >>> images.shape, images.dtype
        ((10000, 28, 28), dtype('uint8'))
    """
    path = Path(path)
    try:
        with _open(path) as f:
            magic = _read_exactly(f, 4)
            if len(magic) < 4 or magic[:2] != b"\x00\x00":
                raise ValueError(f"[read_idx] {path}: not an IDX file (magic number {magic.hex() or 'missing'}; "
                                 "expected 0x0000 then a dtype code and the number of dimensions)")
            code, ndim = magic[2], magic[3]
            if code not in DTYPES:
                raise ValueError(f"[read_idx] {path}: unknown IDX dtype code 0x{code:02X} (known: "
                                 f"{', '.join(f'0x{c:02X}' for c in DTYPES)})")
            if ndim == 0:
                raise ValueError(f"[read_idx] {path}: the header gives 0 dimensions")
            header = _read_exactly(f, 4 * ndim)
            if len(header) < 4 * ndim:
                raise ValueError(f"[read_idx] {path}: truncated header ({ndim} dimensions announced, "
                                 f"{len(header) // 4} present)")
            dims = tuple(int.from_bytes(header[4 * i:4 * i + 4], "big") for i in range(ndim))
            dtype = DTYPES[code]
            array = np.empty(dims, dtype=dtype)
            got = _read_into(f, array)
            if got < array.nbytes:
                raise ValueError(f"[read_idx] {path}: truncated: dimensions {dims} of {dtype.newbyteorder('=')} "
                                 f"need {array.nbytes} bytes of data, the file holds {got}")
            extra = len(_read_exactly(f, 1 << 16))
            if extra:
                more = "" if extra < 1 << 16 else " or more"
                raise ValueError(f"[read_idx] {path}: size mismatch: dimensions {dims} of "
                                 f"{dtype.newbyteorder('=')} need {array.nbytes} bytes of data, the file holds "
                                 f"{extra}{more} bytes more")
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise ValueError(f"[read_idx] {path}: damaged gzip data ({exc})") from None
    return array.astype(dtype.newbyteorder("="), copy=False)


def write_idx(path, array, compress=None):
    """Write `array` as an IDX file, gzip-compressed when `compress` is True (default: when
    the name ends in ``.gz``); the inverse of :func:`read_idx`.

    Args:
        path: destination file.
        array: an array of uint8, int8, int16, int32, float32 or float64, 1 to 255 dims.
        compress: gzip the file; None decides from the suffix.
    """
    path = Path(path)
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"[write_idx] IDX cannot store dtype {array.dtype} (allowed: "
                         f"{', '.join(str(d.newbyteorder('=')) for d in DTYPES.values())})")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"[write_idx] IDX stores 1 to 255 dimensions, got {array.ndim}")
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + np.ascontiguousarray(array, dtype=DTYPES[code]).tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        # mtime=0: the same array always gives the same bytes
        payload = gzip.compress(payload, compresslevel=9, mtime=0)
    path.write_bytes(payload)
