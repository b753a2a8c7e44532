"""fastnn.save / fastnn.load: exact round trips of state-dict-like objects (bits, dtypes,
shapes, key order, container types), paths and file objects, and rejection of anything
else: truncated files, corrupted manifests, other formats (npz, pickle) -> ValueError, with
nothing unpickled or executed."""

import collections
import io
import json
import math
import pickle
import struct

import numpy as np
import pytest

import fastnn
from fastnn import optim

MAGIC = b"FASTNN\x00\x01"


def roundtrip(obj):
    buf = io.BytesIO()
    fastnn.save(obj, buf)
    buf.seek(0)
    return fastnn.load(buf)


def assert_same(a, b):
    """Equal structure, types, key order, dtypes, shapes and bits."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, fastnn.Tensor):
        assert a.requires_grad == b.requires_grad
        assert_same(a.data, b.data)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == np.ascontiguousarray(b).tobytes()
        assert a.flags["C_CONTIGUOUS"] and a.flags["WRITEABLE"] and a.flags["ALIGNED"]
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    elif isinstance(a, float):
        assert struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        assert a == b


def sample(rng):
    arrays = {str(dt): rng.standard_normal((3, 5)).astype(dt) for dt in (np.float16, np.float32, np.float64)}
    arrays.update({str(np.dtype(dt)): rng.integers(-100, 100, (4,)).astype(dt)
                   for dt in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint64)})
    return collections.OrderedDict([
        ("weight", fastnn.Tensor(rng.standard_normal((7, 13)).astype(np.float32), requires_grad=True)),
        ("bias", fastnn.Tensor(np.zeros(0, np.float64))),
        ("scalar", fastnn.Tensor(np.array(2.5, np.float32))),
        ("num_batches_tracked", fastnn.Tensor(np.array(3, np.int64))),
        ("arrays", arrays),
        ("bool", np.array([True, False])),
        ("complex", (rng.standard_normal(3) + 1j * rng.standard_normal(3)).astype(np.complex64)),
        ("big_endian", np.arange(6, dtype=">f4").reshape(2, 3)),
        ("non_contiguous", rng.standard_normal((6, 8))[::2, 1::3]),
        ("empty2d", np.zeros((0, 3), np.float32)),
        ("np_scalars", [np.float32(1.5), np.int64(-7), np.bool_(True)]),
        ("floats", [0.1, -0.0, math.inf, -math.inf, math.nan, 5e-324, 1.7976931348623157e308]),
        ("ints", [0, -1, 2 ** 70, True, False]),
        ("text", ["", "Grüße ∑ \n \"quoted\"", None]),
        ("tuple", (1, (2.0, "x"), [])),
        ("int_keys", {3: "c", 1: "a", 2: {"nested": ()}}),
        ("odd_keys", {(1, "a"): 1, 2.5: 2, None: 3, True: 4}),
    ])


def test_round_trip_is_exact(rng):
    obj = sample(rng)
    assert_same(obj["non_contiguous"].copy(), roundtrip(obj)["non_contiguous"])
    back = roundtrip(obj)
    obj["non_contiguous"] = np.ascontiguousarray(obj["non_contiguous"])
    assert_same(back, obj)


def test_round_trip_of_plain_values():
    for obj in (None, 3, "s", 1.25, [], {}, (), np.float64(2.0), np.zeros(())):
        got = roundtrip(obj)
        assert_same(got, obj) if not isinstance(obj, np.ndarray) else assert_same(obj, got)


def test_round_trip_through_a_path_and_at_an_offset(tmp_path, rng):
    obj = sample(rng)
    path = tmp_path / "ckpt.fnn"
    fastnn.save(obj, path)
    assert path.read_bytes()[:8] == MAGIC
    assert_same(fastnn.load(str(path)), fastnn.load(path))
    # a file object positioned after other data: save and load start where it is
    buf = io.BytesIO()
    buf.write(b"prefix")
    fastnn.save({"a": np.arange(3.0)}, buf)
    buf.write(b"suffix")
    data = buf.getvalue()
    f = io.BytesIO(data[:-6])
    f.read(6)
    assert_same(fastnn.load(f), {"a": np.arange(3.0)})


def test_loaded_arrays_are_independent(rng):
    a = np.arange(4.0)
    back = roundtrip({"x": a, "y": a})
    back["x"][0] = 9.0
    assert back["y"][0] == 0.0 and a[0] == 0.0


def test_optimizer_state_dict_round_trip(rng):
    params = [fastnn.Tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True) for s in [(3, 2), ()]]
    opt = optim.Adam([{"params": params[:1]}, {"params": params[1:], "lr": 0.1}], amsgrad=True)
    for p in params:
        p.grad = fastnn.Tensor(rng.standard_normal(p.shape).astype(np.float32))
    opt.step()
    sd = opt.state_dict()
    assert_same(roundtrip(sd), sd)


def test_unsupported_objects_are_refused():
    for obj in ({"a": {1, 2}}, [print], np.array([object()], dtype=object), np.array(["ab"]),
                np.zeros(2, dtype=[("a", "f4")]), np.datetime64("2020-01-01")):
        with pytest.raises(TypeError, match=r"\[fastnn.save\] cannot save"):
            fastnn.save(obj, io.BytesIO())


# ---------------------------------------------------------------------------------------
# Malformed input
# ---------------------------------------------------------------------------------------

def saved_bytes(obj):
    buf = io.BytesIO()
    fastnn.save(obj, buf)
    return buf.getvalue()


def load_bytes(data):
    return fastnn.load(io.BytesIO(data))


def craft(manifest, data=b"", manifest_bytes=None):
    raw = manifest_bytes if manifest_bytes is not None else json.dumps(manifest).encode()
    return MAGIC + struct.pack("<Q", len(raw)) + raw + data


def test_truncated_files(rng):
    data = saved_bytes({"w": rng.standard_normal((5, 7)), "b": np.arange(3, dtype=np.int32), "s": "x"})
    m = struct.unpack("<Q", data[8:16])[0]
    cuts = [0, 3, 8, 12, 16, 17, 16 + m // 2, 16 + m - 1, 16 + m, 16 + m + 1, len(data) - 12, len(data) - 1]
    for cut in cuts:
        with pytest.raises(ValueError, match=r"^\[fastnn.load\] (truncated|not a fastnn file)"):
            load_bytes(data[:cut])
    with pytest.raises(ValueError, match="truncated or padded"):
        load_bytes(data + b"\0")


def test_wrong_magic_and_other_formats(tmp_path):
    data = saved_bytes({"a": np.zeros(3)})
    with pytest.raises(ValueError, match="not a fastnn file"):
        load_bytes(b"FASTNN\x00\x02" + data[8:])  # another format version
    with pytest.raises(ValueError, match="not a fastnn file"):
        load_bytes(b"")
    path = tmp_path / "x.npz"
    np.savez(path, a=np.array([1, "x", None], dtype=object))
    with pytest.raises(ValueError, match="not a fastnn file"):
        fastnn.load(path)


EXECUTED = []


def _side_effect():
    EXECUTED.append(True)
    return {}


class _Payload:
    def __reduce__(self):
        return (_side_effect, ())


def test_loading_never_unpickles():
    data = pickle.dumps({"state": _Payload()})
    with pytest.raises(ValueError, match="not a fastnn file"):
        load_bytes(data)
    # nor when the pickle sits where the manifest or the data should be
    with pytest.raises(ValueError, match="malformed manifest"):
        load_bytes(craft(None, manifest_bytes=data))
    with pytest.raises(ValueError, match="malformed manifest"):
        load_bytes(craft({"root": ["ndarray", 0], "arrays": [{"dtype": "|O", "shape": [1], "offset": 0,
                                                             "nbytes": 8}], "data_bytes": 8}, b"\0" * 8))
    assert EXECUTED == []


def _good():
    return {"root": ["dict", [[["str", "a"], ["tensor", 0, True]]]],
            "arrays": [{"dtype": "<f4", "shape": [2], "offset": 0, "nbytes": 8}], "data_bytes": 8}


def _with(path, value):
    m = _good()
    node = m
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return m


BAD_MANIFESTS = [
    ("garbage", None, b"\xff\xfe not json"),
    ("not a dict", [1, 2], None),
    ("extra key", dict(_good(), extra=1), None),
    ("data_bytes", _with(["data_bytes"], -8), None),
    ("arrays not list", _with(["arrays"], {}), None),
    ("object dtype", _with(["arrays", 0, "dtype"], "|O"), None),
    ("unicode dtype", _with(["arrays", 0, "dtype"], "<U2"), None),
    ("structured dtype", _with(["arrays", 0, "dtype"], "f4,f4"), None),
    ("unknown dtype", _with(["arrays", 0, "dtype"], "float99"), None),
    ("dtype not str", _with(["arrays", 0, "dtype"], 4), None),
    ("negative dim", _with(["arrays", 0, "shape"], [-2]), None),
    ("float dim", _with(["arrays", 0, "shape"], [2.0]), None),
    ("size mismatch", _with(["arrays", 0, "shape"], [3]), None),
    ("huge shape", _with(["arrays", 0, "shape"], [2 ** 40, 2 ** 40]), None),
    ("offset", _with(["arrays", 0, "offset"], 4), None),
    ("array index", _with(["root", 1, 0, 1], ["tensor", 1, True]), None),
    ("bad node", _with(["root", 1, 0, 1], ["pickle", "x"]), None),
    ("node arity", _with(["root", 1, 0, 1], ["tensor", 0]), None),
    ("requires_grad type", _with(["root", 1, 0, 1], ["tensor", 0, 1]), None),
    ("bad float", _with(["root", 1, 0, 0], ["float", "zz"]), None),
    ("bad int", _with(["root", 1, 0, 0], ["int", "1"]), None),
    ("unhashable key", _with(["root", 1, 0, 0], ["list", []]), None),
    ("array twice", _with(["root"], ["list", [["ndarray", 0], ["ndarray", 0]]]), None),
    ("repeated key", _with(["root"], ["dict", [[["int", 1], ["none"]], [["int", 1], ["ndarray", 0]]]]), None),
    ("deep", None, ('{"root":' + '["list",[' * 5000 + "]]" * 5000 + ',"arrays":[],"data_bytes":8}').encode()),
    ("deep for the builder", None,
     ('{"root":' + '["list",[' * 450 + "]]" * 450 + ',"arrays":[],"data_bytes":8}').encode()),
]


@pytest.mark.parametrize("name,manifest,raw", BAD_MANIFESTS, ids=[b[0] for b in BAD_MANIFESTS])
def test_malformed_manifest(name, manifest, raw):
    with pytest.raises(ValueError, match=r"^\[fastnn.load\] malformed manifest"):
        load_bytes(craft(manifest, b"\0" * 8, manifest_bytes=raw))


def test_crafted_file_loads_when_valid():
    got = load_bytes(craft(_good(), np.array([1.0, 2.0], np.float32).tobytes()))
    assert got["a"].requires_grad and got["a"].data.tolist() == [1.0, 2.0]


def test_declared_sizes_are_checked_before_reading():
    """A header declaring an enormous manifest, or a manifest declaring enormous data, is
    refused from the file's size: nothing of the declared size is read or allocated."""
    with pytest.raises(ValueError, match="truncated file or bad header"):
        load_bytes(MAGIC + struct.pack("<Q", 2 ** 63) + b"{}")
    with pytest.raises(ValueError, match="truncated or padded"):
        load_bytes(craft(_with(["data_bytes"], 2 ** 62), b"\0" * 8))
    m = _with(["arrays", 0, "shape"], [2 ** 30, 2 ** 30])
    m["arrays"][0]["nbytes"] = 4 * 2 ** 60
    with pytest.raises(ValueError, match="malformed manifest"):
        load_bytes(craft(m, b"\0" * 8))


def test_int_tensor_cannot_require_grad():
    m = _with(["arrays", 0, "dtype"], "<i4")
    with pytest.raises(ValueError, match="malformed manifest"):
        load_bytes(craft(m, b"\0" * 8))


class _Stream(io.RawIOBase):
    """A readable, non-seekable stream (a pipe or socket)."""

    def __init__(self, data):
        self._buf = io.BytesIO(data)

    def readable(self):
        return True

    def readinto(self, b):
        return self._buf.readinto(b)


def test_non_seekable_stream(rng):
    obj = {"w": rng.standard_normal((4, 3)).astype(np.float32), "step": 3}
    data = saved_bytes(obj)
    assert_same(fastnn.load(_Stream(data)), obj)
    with pytest.raises(ValueError, match="truncated"):
        fastnn.load(_Stream(data[:-1]))
