"""fastnn.nn.init: gains, fan computations, the bounds and spreads of every initialiser
(against PyTorch's formulas), in-place filling, and the default initialisation of Linear
and Conv2d. Sample statistics use tensors of >= 60k elements, where a sample std is within
~0.5% of the true one, so the 3% tolerance below still catches any wrong factor."""

import math

import numpy as np
import pytest

import fastnn
import fastnn.nn as nn
from fastnn.nn import init

STD_RTOL = 0.03


def big(shape=(300, 200, 1, 1)):
    return fastnn.empty(*shape, dtype=fastnn.float64)


def test_calculate_gain():
    for name in ("linear", "conv2d", "sigmoid"):
        assert init.calculate_gain(name) == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", 0.3) == pytest.approx(math.sqrt(2 / (1 + 0.09)))
    assert init.calculate_gain("selu") == pytest.approx(0.75)
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", True)


def test_fans():
    assert init._calculate_fan_in_and_fan_out(fastnn.empty(5, 3)) == (3, 5)
    assert init._calculate_fan_in_and_fan_out(fastnn.empty(8, 4, 3, 2)) == (4 * 6, 8 * 6)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(fastnn.empty(5))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(fastnn.empty(5, 3), mode="fan_avg")


def test_fill_in_place_and_parameters():
    p = nn.Parameter(fastnn.zeros(4, 3))
    before = p.data
    assert init.constant_(p, 2.5) is p and p.data is before and np.all(p.data == 2.5)
    init.ones_(p)
    assert np.all(p.data == 1)
    init.zeros_(p)
    assert np.all(p.data == 0)
    init.uniform_(p, -2.0, -1.0)
    assert p.data is before and p.data.dtype == np.float32 and np.all((p.data >= -2) & (p.data <= -1))
    assert p.grad_fn is None and p.requires_grad


def check_uniform(t, bound):
    a = t.data
    assert a.min() >= -bound and a.max() <= bound
    assert a.max() > 0.99 * bound and a.min() < -0.99 * bound  # the full range is used
    assert a.std() == pytest.approx(bound / math.sqrt(3), rel=STD_RTOL)


def check_normal(t, std):
    assert t.data.std() == pytest.approx(std, rel=STD_RTOL)
    assert abs(t.data.mean()) < 0.02 * std


def test_uniform_and_normal():
    check_uniform(init.uniform_(big(), -0.7, 0.7), 0.7)
    t = init.normal_(big(), 3.0, 0.5)
    assert t.data.mean() == pytest.approx(3.0, abs=0.01) and t.data.std() == pytest.approx(0.5, rel=STD_RTOL)


@pytest.mark.parametrize("shape", [(300, 200), (60, 40, 5, 5)])
def test_xavier(shape):
    fan_in, fan_out = shape[1] * int(np.prod(shape[2:])), shape[0] * int(np.prod(shape[2:]))
    gain = 1.7
    check_uniform(init.xavier_uniform_(big(shape), gain=gain), gain * math.sqrt(6 / (fan_in + fan_out)))
    check_normal(init.xavier_normal_(big(shape)), math.sqrt(2 / (fan_in + fan_out)))


@pytest.mark.parametrize("a, mode, nonlinearity", [(0, "fan_in", "leaky_relu"), (0.2, "fan_out", "leaky_relu"),
                                                   (0, "fan_in", "relu"), (0, "fan_out", "tanh")])
def test_kaiming(a, mode, nonlinearity):
    shape = (120, 50, 3, 3)
    fan = (shape[1] if mode == "fan_in" else shape[0]) * 9
    gain = init.calculate_gain(nonlinearity, a)
    check_uniform(init.kaiming_uniform_(big(shape), a=a, mode=mode, nonlinearity=nonlinearity),
                  gain * math.sqrt(3 / fan))
    check_normal(init.kaiming_normal_(big(shape), a=a, mode=mode, nonlinearity=nonlinearity), gain / math.sqrt(fan))


def test_kaiming_zero_element_warns_and_keeps():
    t = fastnn.empty(0, 3)
    with pytest.warns(UserWarning, match="zero-element"):
        assert init.kaiming_uniform_(t) is t


def test_linear_and_conv_default_init():
    fastnn.manual_seed(0)
    lin = nn.Linear(500, 300)
    bound = 1 / math.sqrt(500)  # kaiming_uniform_(a=sqrt(5)) gives exactly 1/sqrt(fan_in)
    check_uniform(lin.weight, bound)
    assert np.abs(lin.bias.data).max() <= bound and lin.bias.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.15)
    conv = nn.Conv2d(60, 120, (3, 4), groups=2)
    fan_in = 30 * 12
    check_uniform(conv.weight, 1 / math.sqrt(fan_in))
    assert np.abs(conv.bias.data).max() <= 1 / math.sqrt(fan_in)
    assert lin.weight.dtype == fastnn.float32 and nn.Linear(3, 2, dtype=fastnn.float64).weight.dtype == fastnn.float64


def test_seeded_and_explicit_generator():
    fastnn.manual_seed(7)
    a = nn.Linear(6, 4)
    fastnn.manual_seed(7)
    b = nn.Linear(6, 4)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    c = nn.Linear(6, 4)
    assert not np.array_equal(a.weight.data, c.weight.data)
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    t1 = init.kaiming_normal_(fastnn.empty(4, 5), generator=g1)
    t2 = init.kaiming_normal_(fastnn.empty(4, 5), generator=g2)
    np.testing.assert_array_equal(t1.data, t2.data)
