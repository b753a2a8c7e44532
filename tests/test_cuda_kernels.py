"""The CPU kernel tests, run again on the GPU: every numeric test below is a CPU test
function called with fastnn.kernels (and fastnn._C) replaced by the device shim, so each
CUDA kernel is checked against the same NumPy oracle, tolerance table and edge cases as its
CPU twin. Error-message, thread-count and CPU-path tests are CPU-only and not repeated.

Backends: "cuda" (skipped without a usable device, naming why) and "loopback" (the CPU
kernels behind the same harness: it checks the harness itself on any machine).
"""

import functools

import pytest

import fastnn
import fastnn.cuda
from device_shim import Backend, Shim

import test_activation
import test_conv2d
import test_dropout
import test_gemm
import test_norm
import test_optim_kernels
import test_pool
import test_softmax_xent

# (module, attribute): what each CPU test module calls its kernels by.
PATCHES = [(test_gemm, "kernels"), (test_gemm, "_C"), (test_conv2d, "kernels"), (test_conv2d, "_C"),
           (test_pool, "kernels"), (test_norm, "kernels"), (test_dropout, "kernels"), (test_optim_kernels, "kernels"),
           (test_activation, "K"), (test_softmax_xent, "K")]


@pytest.fixture(params=["loopback", "cuda"])
def device(request, monkeypatch):
    """Replaces the CPU kernel modules of the test modules above by the shim of one backend."""
    if request.param == "cuda" and not fastnn.cuda.is_available():
        pytest.skip(f"no usable CUDA device: {fastnn.cuda.unavailable_reason()}")
    backend = Backend(request.param)
    for module, attr in PATCHES:
        cpu = getattr(module, attr)
        target = backend.raw if cpu is fastnn._C else backend.kernels
        monkeypatch.setattr(module, attr, Shim(backend, target, fallback=cpu))
    return request.param


@pytest.fixture
def cpu_path():
    """The CPU tests' block sizes come from a code path; the best one names them here (the
    kernels under test are the device's, whatever the path)."""
    return fastnn._C.best_cpu_capability()


def on_device(fn):
    """fn (a CPU test) as a test of this module: same parameters, run under `device`."""
    @functools.wraps(fn)
    def test(*args, **kwargs):
        return fn(*args, **kwargs)
    test.pytestmark = list(getattr(fn, "pytestmark", [])) + [pytest.mark.usefixtures("device")]
    return test


def _collect(module, names):
    return {f"test_{module.__name__[5:]}__{n[5:]}": on_device(getattr(module, n)) for n in names}


globals().update(_collect(test_gemm, [
    "test_parity_small_shapes", "test_parity_block_edges", "test_parity_random_alpha_beta",
    "test_parity_skinny_products", "test_parity_few_rows", "test_strided_views", "test_batched_strided_views",
    "test_matmul_batches_broadcasting_vectors", "test_matmul_vector_dot_into_0d_out",
    "test_gemm_batched_broadcast_with_c", "test_zero_size_dimensions", "test_beta_zero_ignores_nan_inf_in_c",
    "test_alpha_zero_ignores_nan_in_a_and_b", "test_large_residual_float32", "test_large_residual_transposed_gemm",
    "test_integer_inputs_give_exact_results", "test_reference_kernel_matches_oracle",
    "test_reference_kernel_strided_and_batched", "test_reference_kernel_integer_exact",
    "test_reference_kernel_beta_zero_ignores_nan_in_c"]))
globals().update(_collect(test_conv2d, [
    "test_parity", "test_no_bias", "test_many_tiles_and_image_groups", "test_empty_batch", "test_empty_channels",
    "test_parameter_forms", "test_unbatched", "test_non_contiguous", "test_same_output_size",
    "test_same_matches_torch_style_padding_at_stride_1", "test_output_mask", "test_integers_exact"]))
globals().update(_collect(test_pool, [
    "test_max_pool2d_matches_oracle", "test_max_pool2d_ties_and_nan", "test_max_pool2d_backward_any_indices",
    "test_max_pool2d_window_without_input", "test_max_pool2d_tie_picks_first_nan_wins",
    "test_max_pool2d_noncontiguous_and_empty_batch", "test_avg_pool2d_matches_oracle", "test_avg_pool2d_divisor_rules",
    "test_adaptive_avg_pool2d_matches_oracle"]))
globals().update(_collect(test_norm, [
    "test_batch_norm_matches_oracle", "test_batch_norm_without_affine_or_running_stats",
    "test_batch_norm_noncontiguous_input", "test_running_stats_not_given_are_not_required_in_training",
    "test_empty_batch_leaves_running_stats"]))
globals().update(_collect(test_dropout, [
    "test_dropout_matches_oracle", "test_keep_fraction", "test_offset_continuation",
    "test_different_seeds_and_offsets_differ", "test_pytorch_special_cases", "test_noncontiguous_input_uses_c_order"]))
globals().update(_collect(test_optim_kernels, [
    "test_matches_oracle", "test_per_parameter_steps_equal_separate_calls", "test_sgd_per_parameter_first_step",
    "test_mixed_dtypes_in_one_list", "test_unused_state_lists_may_be_none", "test_empty_lists_are_a_no_op"]))
globals().update(_collect(test_activation, [
    "test_elementwise", "test_elementwise_wide_range", "test_special_values", "test_inplace", "test_non_contiguous",
    "test_softmax_every_dim", "test_softmax_extreme_logits", "test_softmax_non_contiguous"]))
globals().update(_collect(test_softmax_xent, [
    "test_cross_entropy_class_indices", "test_cross_entropy_probabilities", "test_cross_entropy_extreme_logits",
    "test_cross_entropy_empty_and_all_ignored", "test_cross_entropy_non_contiguous", "test_cross_entropy_uint8_target"]))
