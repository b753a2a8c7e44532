"""fastnn.cuda itself: what must hold on any machine (import, status, clear errors without a
device, the build configuration) and, on a GPU, DeviceArray, the caching allocator, interop
and the kernels test_cuda_kernels.py does not reach through the CPU tests (elementwise ops,
reductions, host-checked targets and indices, bitwise agreement with the CPU). No test
depends on timing, so the file also runs under compute-sanitizer.
"""

import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import fastnn
import fastnn.cuda as fc
from fastnn import kernels as cpu

gpu = pytest.mark.skipif(not fc.is_available(), reason=f"no usable CUDA device: {fc.unavailable_reason()}")
no_gpu = pytest.mark.skipif(fc.is_available(), reason="a CUDA device is usable here")
DTYPES = (np.float32, np.float64)


# ---- any machine ----

def test_status_is_consistent():
    assert isinstance(fc.is_available(), bool)
    assert (fc.device_count() > 0) == fc.is_available()
    assert (fc.unavailable_reason() == "") == fc.is_available()


def test_show_config_says_why_cuda_is_off(capsys):
    fc.show_config()
    out = capsys.readouterr().out
    assert out.startswith("fastnn CUDA: ")
    if fc._C_cuda is None:
        assert "built without the CUDA module" in out
    elif fc.is_available():
        assert "devices: " in out
    else:
        assert "not usable: " + fc.unavailable_reason() in out
    fastnn.show_config()
    assert "CUDA:" in capsys.readouterr().out


def test_build_targets_explicit_architectures():
    if fc._C_cuda is None:
        pytest.skip("fastnn was built without the CUDA module")
    assert fc._C_cuda.architectures == "90"  # sm_90 SASS + compute_90 PTX, never "native"
    assert re.match(r"\d+\.\d+", fc._C_cuda.cuda_version)


@no_gpu
@pytest.mark.parametrize("make", [lambda: fc.from_numpy(np.ones(3, np.float32)),
                                  lambda: fc.empty((2, 3)), lambda: fc.zeros(4, "float64"),
                                  lambda: fc.DeviceArray.from_numpy(np.ones(2)), fc.synchronize])
def test_device_array_without_device_raises_runtime_error(make):
    with pytest.raises(RuntimeError, match=r"no usable CUDA device: .+"):
        make()


@no_gpu
def test_kernels_without_device_raise_clearly():
    x = np.ones((2, 3), np.float32)
    err = TypeError if fc._C_cuda is not None else RuntimeError
    with pytest.raises(err, match=r"^\[relu\] (input must be a fastnn\.cuda\.DeviceArray|no usable CUDA device)"):
        fc.kernels.relu(x)
    with pytest.raises(err, match=r"^\[matmul\]"):
        fc.kernels.matmul(x, x.T)


def test_memory_stats_keys():
    stats = fc.memory_stats()
    assert set(stats) == {"allocated_bytes", "allocated_blocks", "cached_bytes", "cached_blocks",
                          "peak_allocated_bytes", "hits", "misses"}
    fc.empty_cache()
    assert fc.memory_stats()["cached_bytes"] == 0


def test_import_in_fresh_interpreter():
    code = ("import fastnn, fastnn.cuda as fc; import fastnn.cuda.kernels; "
            "print(fc.is_available(), fc.device_count(), bool(fc.unavailable_reason()))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(fc.is_available()), str(fc.device_count()), str(not fc.is_available())]


def _configure(tmp_path, mode):
    """Configures the project with CMake and FASTNN_CUDA=mode; returns (returncode, output)."""
    pybind11 = pytest.importorskip("pybind11", reason="pybind11 (a build dependency) is not installed here")
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake is not installed here")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([cmake, "-S", root, "-B", str(tmp_path / mode), f"-DFASTNN_CUDA={mode}",
                           f"-Dpybind11_DIR={pybind11.get_cmake_dir()}", f"-DPython_EXECUTABLE={sys.executable}"],
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def test_cmake_option_off_and_auto(tmp_path):
    if not os.path.exists(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "CMakeLists.txt")):
        pytest.skip("not run from a source checkout")
    rc, out = _configure(tmp_path, "OFF")
    assert rc == 0, out
    assert "CUDA module disabled (FASTNN_CUDA=OFF)" in out
    rc, out = _configure(tmp_path, "AUTO")
    assert rc == 0, out
    assert ("building the CUDA module against CUDA" in out) or ("no CUDA toolkit found" in out)


# ---- on a GPU ----

@gpu
@pytest.mark.parametrize("dtype", (np.float32, np.float64, np.int64))
def test_round_trip(dtype, rng):
    for shape in ((), (0,), (7,), (3, 5), (2, 0, 4), (2, 3, 4, 5)):
        a = (rng.standard_normal(shape) * 100).astype(dtype)
        d = fc.from_numpy(a)
        assert d.shape == a.shape and d.dtype == a.dtype and d.ndim == a.ndim and d.size == a.size
        assert d.nbytes == a.nbytes and d.itemsize == a.itemsize and d.contiguous and d.device == 0
        back = d.numpy()
        assert back.dtype == a.dtype and back.shape == a.shape
        np.testing.assert_array_equal(back, a)
    strided = (rng.standard_normal((6, 8)).astype(dtype))[::2, ::-3]
    np.testing.assert_array_equal(fc.from_numpy(strided).numpy(), strided)
    assert "DeviceArray(shape=(3, 5)" in repr(fc.from_numpy(np.zeros((3, 5), dtype)))


@gpu
def test_from_numpy_rejects_other_dtypes():
    with pytest.raises(TypeError, match=r"unsupported dtype int32; expected float32, float64 or int64"):
        fc.from_numpy(np.ones(3, np.int32))
    with pytest.raises(TypeError, match=r"expected a numpy.ndarray, got list"):
        fc.from_numpy([1.0, 2.0])


@gpu
def test_empty_zeros_copy_and_reshape(rng):
    z = fc.zeros((3, 4), "float64")
    np.testing.assert_array_equal(z.numpy(), np.zeros((3, 4)))
    assert fc.empty(5, np.float32).shape == (5,)
    a = rng.standard_normal((4, 6)).astype(np.float32)
    d = fc.from_numpy(a)
    v = d.reshape(3, -1)
    assert v.shape == (3, 8) and v.data_ptr == d.data_ptr  # a view of the same memory
    np.testing.assert_array_equal(v.numpy(), a.reshape(3, 8))
    np.testing.assert_array_equal(d.reshape((24,)).numpy(), a.reshape(24))
    with pytest.raises(ValueError, match=r"cannot reshape array of shape \(4, 6\) into \(5, -1\)"):
        d.reshape(5, -1)
    c = d.copy()
    assert c.data_ptr != d.data_ptr
    np.testing.assert_array_equal(c.numpy(), a)


@gpu
def test_cuda_array_interface_and_dlpack(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    d = fc.from_numpy(a)
    cai = d.__cuda_array_interface__
    assert cai["shape"] == (3, 4) and cai["typestr"] == "<f4" and cai["version"] == 3
    assert cai["data"] == (d.data_ptr, False) and cai["strides"] is None
    assert fc.from_numpy(np.zeros(2, np.int64)).__cuda_array_interface__["typestr"] == "<i8"
    assert d.__dlpack_device__() == (2, 0)
    capsule = d.__dlpack__()
    assert type(capsule).__name__ == "PyCapsule" and "dltensor" in repr(capsule)
    del capsule  # never consumed: its destructor frees the exported tensor
    assert d.__dlpack__(stream=None) is not None


@gpu
def test_caching_allocator_reuses_blocks():
    fc.synchronize()
    fc.empty_cache()
    before = fc.memory_stats()
    d = fc.empty((1024, 1024), np.float32)
    mid = fc.memory_stats()
    assert mid["allocated_bytes"] >= before["allocated_bytes"] + (4 << 20)
    del d
    after = fc.memory_stats()
    assert after["cached_bytes"] >= 4 << 20 and after["allocated_bytes"] == before["allocated_bytes"]
    e = fc.empty((1024, 1024), np.float32)  # the same size class: served from the cache
    assert fc.memory_stats()["hits"] == after["hits"] + 1
    del e
    fc.empty_cache()
    assert fc.memory_stats()["cached_bytes"] == 0


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_binary_ops_broadcast(dtype, rng):
    k = fc.kernels
    for sa, sb in (((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (5,)), ((0, 3), (3,))):
        a = rng.standard_normal(sa).astype(dtype)
        b = (rng.standard_normal(sb) + 3).astype(dtype)
        da, db = fc.from_numpy(a), fc.from_numpy(b)
        for name, f in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("div", np.divide)):
            got = getattr(k, name)(da, db).numpy()
            assert got.dtype == dtype
            np.testing.assert_array_equal(got, f(a, b))  # one correctly rounded operation each
    with pytest.raises(ValueError, match=r"^\[add\] shapes \(3,\) and \(4,\) do not broadcast"):
        k.add(fc.from_numpy(np.ones(3, dtype)), fc.from_numpy(np.ones(4, dtype)))
    with pytest.raises(TypeError, match=r"^\[mul\] a has dtype float32 but b has dtype float64"):
        k.mul(fc.from_numpy(np.ones(3, np.float32)), fc.from_numpy(np.ones(3, np.float64)))


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_scale_sum_mean(dtype, rng):
    k = fc.kernels
    x = rng.standard_normal((4, 5, 6)).astype(dtype)
    d = fc.from_numpy(x)
    np.testing.assert_array_equal(k.scale(d, 2.5).numpy(), x * dtype(2.5))
    u = np.finfo(dtype).eps
    x64 = x.astype(np.float64)
    for dim in (None, 0, 1, 2, -1):
        for keepdim in (False, True):
            for name, f in (("sum", np.sum), ("mean", np.mean)):
                got = getattr(k, name)(d, dim, keepdim).numpy()
                want = f(x64, axis=dim, keepdims=keepdim)
                assert got.shape == np.shape(want) and got.dtype == dtype
                np.testing.assert_allclose(got, want, rtol=4 * u, atol=4 * u * np.sum(np.abs(x64)))
    assert np.isnan(k.mean(fc.from_numpy(np.zeros((0,), dtype))).numpy())
    assert k.sum(fc.from_numpy(np.zeros((0, 3), dtype)), 0).numpy().tolist() == [0, 0, 0]
    with pytest.raises(IndexError, match=r"Dimension out of range"):
        k.sum(d, 3)


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_mask_is_the_cpus_bit_for_bit(dtype, rng):
    x = rng.standard_normal(10007).astype(dtype)
    for seed, offset, p in ((0, 0, 0.5), (12345, 7, 0.1), (2**64 - 1, 2**40 + 3, 0.9)):
        got = fc.kernels.dropout(fc.from_numpy(x), p, seed=seed, offset=offset).numpy()
        np.testing.assert_array_equal(got, cpu.dropout(x, p, seed=seed, offset=offset))
        g = fc.kernels.dropout_backward(fc.from_numpy(x), p, seed=seed, offset=offset).numpy()
        np.testing.assert_array_equal(g, cpu.dropout_backward(x, p, seed=seed, offset=offset))


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool2d_indices_are_the_cpus(dtype, rng):
    x = rng.integers(-3, 3, (2, 3, 11, 13)).astype(dtype)  # many ties
    for kw in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
               dict(kernel_size=(3, 2), stride=1, dilation=2)):
        out, ind = fc.kernels.max_pool2d(fc.from_numpy(x), return_indices=True, **kw)
        cout, cind = cpu.max_pool2d(x, return_indices=True, **kw)
        np.testing.assert_array_equal(out.numpy(), cout)
        np.testing.assert_array_equal(ind.numpy(), cind)
        g = rng.standard_normal(cout.shape).astype(dtype)
        got = fc.kernels.max_pool2d_backward(fc.from_numpy(g), ind, x.shape).numpy()
        np.testing.assert_array_equal(got, cpu.max_pool2d_backward(g, cind, x.shape))


@gpu
def test_max_pool2d_backward_rejects_bad_indices_without_a_device_fault():
    g = fc.from_numpy(np.ones((1, 1, 2, 2), np.float32))
    ind = fc.from_numpy(np.array([[[[0, 1], [99, 2]]]], np.int64))
    with pytest.raises(IndexError, match=r"^\[max_pool2d_backward\] indices holds a value outside \[0, 16\)"):
        fc.kernels.max_pool2d_backward(g, ind, (1, 1, 4, 4))
    fc.synchronize()  # the device is still healthy


@gpu
@pytest.mark.parametrize("as_device", (False, True))
def test_cross_entropy_targets_are_checked_on_the_host(as_device):
    x = fc.from_numpy(np.zeros((3, 4), np.float32))
    for bad in ([0, 4, 1], [0, -2, 1]):
        t = np.array(bad, np.int64)
        with pytest.raises(IndexError, match=rf"^\[cross_entropy\] Target {bad[1]} is out of bounds \(4 classes\)"):
            fc.kernels.cross_entropy(x, fc.from_numpy(t) if as_device else t)
    t = np.array([0, -100, 3], np.int64)
    loss = fc.kernels.cross_entropy(x, fc.from_numpy(t) if as_device else t).numpy()
    np.testing.assert_allclose(loss, np.log(4), rtol=1e-6)
    fc.synchronize()


@gpu
def test_errors_match_the_cpu_messages():
    k = fc.kernels
    a32, a64 = fc.from_numpy(np.ones((2, 3), np.float32)), fc.from_numpy(np.ones((3, 2), np.float64))
    with pytest.raises(TypeError, match=r"^\[matmul\] a has dtype float32 but b has dtype float64"):
        k.matmul(a32, a64)
    with pytest.raises(ValueError, match=r"^\[gemm\] inner dimensions do not match"):
        k.gemm(a32, a32)
    with pytest.raises(TypeError, match=r"^\[relu\] input must be a fastnn.cuda.DeviceArray, got ndarray"):
        k.relu(np.ones(3))
    with pytest.raises(TypeError, match=r"^\[relu\] input has unsupported dtype int64"):
        k.relu(fc.from_numpy(np.ones(3, np.int64)))
    x = fc.from_numpy(np.ones((1, 3, 5, 5), np.float32))
    w = fc.from_numpy(np.ones((2, 1, 3, 3), np.float32))
    with pytest.raises(ValueError, match=r"^\[conv2d\] input has 3 channels, weight expects 1"):
        k.conv2d(x, w)
    with pytest.raises(ValueError, match=r"^\[max_pool2d\] pad should be at most half of kernel size"):
        k.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match=r"^\[adam_step_\] Invalid learning rate: -1.0"):
        k.adam_step_([a32], [a32], [a32], [a32], None, 1, lr=-1.0)
    p = fc.from_numpy(np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"share memory"):
        k.sgd_step_([p, p], [p.copy(), p.copy()], None, lr=0.1)
