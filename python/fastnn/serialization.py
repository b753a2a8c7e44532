"""fastnn.save / fastnn.load: state dicts (nested dicts, lists and tuples of Tensors, NumPy
arrays and scalars, ints, floats, bools, strings, None) in a file format that holds data
only: loading never executes code and never unpickles.

Layout (all integers little-endian):
    bytes 0-7    magic ``b"FASTNN\\x00\\x01"`` (format version 1)
    bytes 8-15   uint64 M, the manifest's length
    M bytes      the manifest, UTF-8 JSON: {"root": node, "arrays": [array, ...], "data_bytes": D}
    D bytes      the arrays' raw bytes, back to back, each C-ordered in its stored dtype
An array entry is {"dtype": NumPy dtype string ("<f4"), "shape": [...], "offset": byte
offset in the data region, "nbytes": bytes}. A node is a JSON list whose first item names
its kind: ["none"], ["bool", b], ["int", i], ["float", float.hex()], ["str", s],
["list", [nodes]], ["tuple", [nodes]], ["dict", [[key, value], ...]],
["odict", [[key, value], ...]], ["tensor", index, requires_grad], ["ndarray", index],
["npscalar", index] (a NumPy scalar, stored as a 0-d array). Dict key order, dtypes
(byte order included), shapes and bits round-trip exactly; arrays shared between entries
are stored once per entry and load as separate copies.
"""

import collections
import io
import json
import math
import os
import struct

import numpy as np

__all__ = ["save", "load"]

_MAGIC = b"FASTNN\x00\x01"
_HEADER = 16
# Plain numeric dtypes only: no object, string, void, structured or datetime arrays.
_KINDS = frozenset("biufc")


def _tensor_type():
    from .tensor import Tensor
    return Tensor


def _check_dtype(dtype, where):
    if dtype.kind not in _KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise TypeError(f"[fastnn.save] cannot save {where} of dtype {dtype} (only bool, integer, float "
                        "and complex arrays)")


class _Writer:
    def __init__(self):
        self.arrays = []   # (contiguous array, entry)
        self.offset = 0

    def array(self, arr):
        if not arr.flags.c_contiguous:  # (np.ascontiguousarray would make a 0-d array 1-d)
            arr = arr.copy(order="C")
        entry = {"dtype": arr.dtype.str, "shape": list(arr.shape), "offset": self.offset, "nbytes": arr.nbytes}
        self.arrays.append((arr, entry))
        self.offset += arr.nbytes
        return len(self.arrays) - 1

    def node(self, obj):
        Tensor = _tensor_type()
        if obj is None:
            return ["none"]
        if isinstance(obj, np.generic) and obj.dtype.kind in _KINDS:  # before float: np.float64 is one
            return ["npscalar", self.array(np.asarray(obj))]
        if isinstance(obj, bool):
            return ["bool", obj]
        if isinstance(obj, int):
            return ["int", int(obj)]
        if isinstance(obj, float):
            return ["float", float(obj).hex()]
        if isinstance(obj, str):
            return ["str", str(obj)]
        if isinstance(obj, Tensor):
            _check_dtype(obj.data.dtype, "a Tensor")
            return ["tensor", self.array(obj.data), bool(obj.requires_grad)]
        if isinstance(obj, np.ndarray):
            _check_dtype(obj.dtype, "an array")
            return ["ndarray", self.array(obj)]
        if isinstance(obj, np.generic):
            _check_dtype(obj.dtype, "a NumPy scalar")
            return ["npscalar", self.array(np.asarray(obj))]
        if isinstance(obj, tuple):
            return ["tuple", [self.node(v) for v in obj]]
        if isinstance(obj, list):
            return ["list", [self.node(v) for v in obj]]
        if isinstance(obj, dict):
            kind = "odict" if isinstance(obj, collections.OrderedDict) else "dict"
            return [kind, [[self.node(k), self.node(v)] for k, v in obj.items()]]
        raise TypeError(f"[fastnn.save] cannot save an object of type {type(obj).__name__}")


def save(obj, f):
    """Save ``obj`` (a state dict: nested dicts/lists/tuples of Tensors, NumPy arrays and
    scalars, ints, floats, bools, strings and None) to ``f``, a path or a writable binary
    file object.

    Tensors are saved as their data and ``requires_grad`` (a Tensor subclass loads as a
    Tensor). Non-contiguous arrays are saved as C-contiguous copies.

    Raises:
        TypeError: an object of another type, or an array of a non-numeric dtype.
    """
    w = _Writer()
    root = w.node(obj)
    manifest = json.dumps({"root": root, "arrays": [e for _, e in w.arrays], "data_bytes": w.offset},
                          separators=(",", ":"), allow_nan=False).encode("utf-8")
    if isinstance(f, (str, bytes, os.PathLike)):
        with open(f, "wb") as fh:
            _write(fh, manifest, w.arrays)
    else:
        _write(f, manifest, w.arrays)


def _write(fh, manifest, arrays):
    fh.write(_MAGIC + struct.pack("<Q", len(manifest)))
    fh.write(manifest)
    for arr, _ in arrays:
        if arr.nbytes:
            fh.write(memoryview(arr.reshape(-1)).cast("B"))


def load(f):
    """Load an object saved by :func:`save` from ``f``, a path or a readable binary file
    object. Tensors come back as Tensors (with their ``requires_grad``), arrays as writable
    aligned NumPy arrays, tuples as tuples, OrderedDicts as OrderedDicts.

    Nothing in the file is executed or unpickled; every size is checked against the file's
    size before anything of that size is read or allocated.

    Raises:
        ValueError: not a fastnn file (bad magic), a truncated file, or a malformed
            manifest, each saying which.
    """
    if isinstance(f, (str, bytes, os.PathLike)):
        with open(f, "rb") as fh:
            return _load(fh)
    if not (hasattr(f, "seekable") and f.seekable()):
        f = io.BytesIO(f.read())  # the whole stream; its size bounds everything read below
    return _load(f)


def _bad(msg):
    return ValueError(f"[fastnn.load] {msg}")


def _read_exact(fh, n, what):
    data = fh.read(n)
    if data is None or len(data) != n:
        raise _bad(f"truncated file: expected {n} bytes of {what}, got {0 if data is None else len(data)}")
    return data


def _load(fh):
    start = fh.tell()
    size = fh.seek(0, io.SEEK_END) - start
    fh.seek(start)
    head = fh.read(_HEADER)
    if len(head) < len(_MAGIC) or head[:len(_MAGIC)] != _MAGIC:
        raise _bad("not a fastnn file (bad magic)")
    if len(head) < _HEADER:
        raise _bad("truncated file: the header is incomplete")
    (m,) = struct.unpack("<Q", head[len(_MAGIC):])
    if m > size - _HEADER:
        raise _bad(f"truncated file or bad header: manifest of {m} bytes declared, {size - _HEADER} bytes left")
    raw = _read_exact(fh, m, "manifest")
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _bad(f"malformed manifest: {exc}") from None
    if not isinstance(manifest, dict) or set(manifest) != {"root", "arrays", "data_bytes"}:
        raise _bad("malformed manifest: expected the keys 'root', 'arrays' and 'data_bytes'")
    data_bytes = manifest["data_bytes"]
    if not _is_int(data_bytes) or data_bytes < 0:
        raise _bad("malformed manifest: 'data_bytes' is not a non-negative int")
    if _HEADER + m + data_bytes != size:
        raise _bad(f"truncated or padded file: {size} bytes, the manifest declares {_HEADER + m + data_bytes}")
    entries = manifest["arrays"]
    if not isinstance(entries, list):
        raise _bad("malformed manifest: 'arrays' is not a list")
    specs, end = [], 0
    for i, e in enumerate(entries):
        specs.append(_array_spec(i, e, end, data_bytes))
        end += specs[-1][3]
    if end != data_bytes:
        raise _bad(f"malformed manifest: the arrays fill {end} of the {data_bytes} data bytes")
    try:
        used = set()
        _check_node(manifest["root"], specs, used)
    except RecursionError:
        raise _bad("malformed manifest: nesting too deep") from None
    arrays = []
    base = start + _HEADER + m
    for dtype, shape, offset, nbytes in specs:
        arr = np.empty(shape, dtype)
        if nbytes:
            fh.seek(base + offset)
            view = memoryview(arr.reshape(-1).view(np.uint8))
            got = 0
            while got < nbytes:
                n = fh.readinto(view[got:])
                if not n:
                    raise _bad(f"truncated file: array data ends after {got} of {nbytes} bytes")
                got += n
        arrays.append(arr)
    fh.seek(start + size)
    return _build(manifest["root"], arrays)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _array_spec(i, e, expected_offset, data_bytes):
    """(dtype, shape, offset, nbytes) of array entry i, checked against the data region:
    the arrays lie back to back in order, so all of them together never need more memory
    than the file's size."""
    if not isinstance(e, dict) or set(e) != {"dtype", "shape", "offset", "nbytes"}:
        raise _bad(f"malformed manifest: array {i} is not a dict of dtype, shape, offset and nbytes")
    if not isinstance(e["dtype"], str):
        raise _bad(f"malformed manifest: array {i} has a dtype that is not a string")
    try:
        dtype = np.dtype(e["dtype"])
    except (TypeError, ValueError):
        raise _bad(f"malformed manifest: array {i} has an unknown dtype {e['dtype']!r}") from None
    if dtype.kind not in _KINDS or dtype.fields is not None or dtype.subdtype is not None or dtype.hasobject:
        raise _bad(f"malformed manifest: array {i} has dtype {dtype}, not a plain numeric dtype")
    shape = e["shape"]
    if not isinstance(shape, list) or len(shape) > 64 or not all(_is_int(d) and d >= 0 for d in shape):
        raise _bad(f"malformed manifest: array {i} has an invalid shape {shape!r}")
    offset, nbytes = e["offset"], e["nbytes"]
    if not (_is_int(offset) and _is_int(nbytes) and offset >= 0 and nbytes >= 0):
        raise _bad(f"malformed manifest: array {i} has an invalid offset or size")
    if math.prod(shape) * dtype.itemsize != nbytes:
        raise _bad(f"malformed manifest: array {i} of shape {shape} and dtype {dtype} cannot hold {nbytes} bytes")
    if offset != expected_offset:
        raise _bad(f"malformed manifest: array {i} starts at byte {offset}, expected {expected_offset}")
    if offset + nbytes > data_bytes:
        raise _bad(f"malformed manifest: array {i} ends at byte {offset + nbytes} of a {data_bytes}-byte data region")
    return dtype, tuple(shape), offset, nbytes


_SCALAR_KINDS = ("none", "bool", "int", "float", "str")


def _check_node(node, specs, used):
    """Validate a manifest node completely before anything is built from it."""
    if not isinstance(node, list) or not node or not isinstance(node[0], str):
        raise _bad(f"malformed manifest: bad node {str(node)[:80]}")
    kind, args = node[0], node[1:]
    expected = {"none": 0, "bool": 1, "int": 1, "float": 1, "str": 1, "list": 1, "tuple": 1, "dict": 1,
                "odict": 1, "tensor": 2, "ndarray": 1, "npscalar": 1}
    if kind not in expected or len(args) != expected[kind]:
        raise _bad(f"malformed manifest: bad node {str(node)[:80]}")
    ok = True
    if kind == "none":
        pass
    elif kind == "bool":
        ok = isinstance(args[0], bool)
    elif kind == "int":
        ok = _is_int(args[0])
    elif kind == "float":
        ok = isinstance(args[0], str)
        if ok:
            try:
                float.fromhex(args[0])
            except (ValueError, OverflowError):
                ok = False
    elif kind == "str":
        ok = isinstance(args[0], str)
    elif kind in ("list", "tuple"):
        ok = isinstance(args[0], list)
        for child in args[0] if ok else ():
            _check_node(child, specs, used)
    elif kind in ("dict", "odict"):
        ok = isinstance(args[0], list) and all(isinstance(kv, list) and len(kv) == 2 for kv in args[0])
        for k, v in args[0] if ok else ():
            if not _hashable_key(k):
                raise _bad(f"malformed manifest: unhashable dict key {str(k)[:80]}")
            _check_node(k, specs, used)
            _check_node(v, specs, used)
    else:
        ok = _is_int(args[0]) and 0 <= args[0] < len(specs) and args[0] not in used
        if ok:
            used.add(args[0])
        if kind == "tensor":  # only floating Tensors can require grad
            ok = ok and isinstance(args[1], bool) and (not args[1] or specs[args[0]][0].kind == "f")
    if not ok:
        raise _bad(f"malformed manifest: bad node {str(node)[:80]}")


def _hashable_key(node):
    if isinstance(node, list) and node and node[0] in _SCALAR_KINDS + ("npscalar",):
        return True
    return (isinstance(node, list) and len(node) == 2 and node[0] == "tuple" and isinstance(node[1], list)
            and all(_hashable_key(c) for c in node[1]))


def _build(node, arrays):
    kind = node[0]
    if kind == "none":
        return None
    if kind in ("bool", "int", "str"):
        return node[1]
    if kind == "float":
        return float.fromhex(node[1])
    if kind == "list":
        return [_build(c, arrays) for c in node[1]]
    if kind == "tuple":
        return tuple(_build(c, arrays) for c in node[1])
    if kind in ("dict", "odict"):
        out = collections.OrderedDict() if kind == "odict" else {}
        for k, v in node[1]:
            key = _build(k, arrays)
            if key in out:
                raise _bad(f"malformed manifest: repeated dict key {key!r}")
            out[key] = _build(v, arrays)
        return out
    if kind == "tensor":
        t = _tensor_type()(arrays[node[1]])
        if node[2]:
            t.requires_grad_(True)
        return t
    if kind == "ndarray":
        return arrays[node[1]]
    return arrays[node[1]][()]  # npscalar
