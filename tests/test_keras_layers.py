"""fastnn.keras.layers against NumPy references written here in channels_last (NHWC)
float64: Dense, Conv2D (valid/same, strides, dilation, groups), pooling ('same' included,
asymmetric padding too), Flatten's H, W, C order, BatchNormalization's Keras statistics,
Dropout, Keras weight layouts, names and bad inputs."""

import numpy as np
import pytest

import fastnn
from fastnn import keras
from fastnn.keras import layers

TOL = dict(rtol=1e-4, atol=1e-5)


@pytest.fixture(autouse=True)
def _fresh_names():
    keras.backend.clear_session()
    fastnn.manual_seed(0)


def ref_same_pads(size, k, s, d=1):
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def ref_conv2d(x, kernel, bias, strides, padding, dilation=(1, 1), groups=1):
    """NHWC conv with a (kh, kw, cin/groups, cout) kernel, in float64 loops over the window."""
    x = x.astype(np.float64)
    kh, kw, cpg, cout = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation
    if padding == "same":
        (pt, pb), (pl, pr) = ref_same_pads(x.shape[1], kh, sh, dh), ref_same_pads(x.shape[2], kw, sw, dw)
        x = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    n, h, w, c = x.shape
    oh, ow = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, oh, ow, cout))
    opg = cout // groups
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw, :]
            for g in range(groups):
                block = kernel[i, j, :, g * opg:(g + 1) * opg]
                out[..., g * opg:(g + 1) * opg] += patch[..., g * cpg:(g + 1) * cpg] @ block
    return out + (0 if bias is None else bias)


def ref_pool(x, k, s, padding, kind):
    x = x.astype(np.float64)
    n, h, w, c = x.shape
    if padding == "same":
        (pt, pb), (pl, pr) = ref_same_pads(h, k[0], s[0]), ref_same_pads(w, k[1], s[1])
    else:
        pt = pb = pl = pr = 0
    fill = -np.inf if kind == "max" else np.nan
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=fill)
    oh, ow = (h + pt + pb - k[0]) // s[0] + 1, (w + pl + pr - k[1]) // s[1] + 1
    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1], :]
            out[:, i, j] = win.max(axis=(1, 2)) if kind == "max" else np.nanmean(win, axis=(1, 2))
    return out


def test_dense_matches_numpy_and_keras_layout(rng):
    layer = layers.Dense(5, activation="relu")
    x = rng.standard_normal((4, 3)).astype(np.float32)
    y = layer(x)
    kernel, bias = layer.get_weights()
    assert kernel.shape == (3, 5) and bias.shape == (5,)
    assert isinstance(y, fastnn.Tensor) and y.shape == (4, 5)
    np.testing.assert_allclose(y.data, np.maximum(x.astype(np.float64) @ kernel + bias, 0), **TOL)
    limit = np.sqrt(6 / (3 + 5))  # glorot_uniform
    assert np.all(np.abs(kernel) <= limit) and np.all(bias == 0)
    np.testing.assert_array_equal(layer.kernel.data, kernel)


def test_dense_set_weights_checks_shapes(rng):
    layer = layers.Dense(2)
    layer(np.zeros((1, 3), np.float32))
    k = rng.standard_normal((3, 2)).astype(np.float32)
    layer.set_weights([k, np.ones(2, np.float32)])
    np.testing.assert_array_equal(layer.get_weights()[0], k)
    before = layer.get_weights()
    with pytest.raises(ValueError, match=r"dense.*\(3, 2\).*\(2, 3\)"):
        layer.set_weights([k.T, np.ones(2, np.float32)])
    with pytest.raises(ValueError, match="length 1"):
        layer.set_weights([k])
    for a, b in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_names_are_numbered_and_clear_session_resets():
    assert [layers.Dense(1).name for _ in range(3)] == ["dense", "dense_1", "dense_2"]
    assert layers.Conv2D(1, 1).name == "conv2d"
    assert layers.BatchNormalization().name == "batch_normalization"
    assert layers.MaxPooling2D().name == "max_pooling2d"
    assert layers.Dense(1, name="head").name == "head"
    keras.backend.clear_session()
    assert layers.Dense(1).name == "dense"


@pytest.mark.parametrize("padding,strides,dilation,groups,k,size", [
    ("valid", (1, 1), (1, 1), 1, (3, 3), (9, 8)),
    ("same", (1, 1), (1, 1), 1, (3, 3), (7, 7)),
    ("same", (2, 2), (1, 1), 1, (3, 3), (7, 8)),    # asymmetric 'same' padding
    ("same", (2, 1), (1, 1), 1, (2, 4), (6, 5)),
    ("valid", (2, 2), (1, 1), 2, (3, 3), (9, 9)),
    ("same", (1, 1), (2, 2), 1, (3, 3), (8, 7)),
])
def test_conv2d_channels_last_matches_numpy(rng, padding, strides, dilation, groups, k, size):
    layer = layers.Conv2D(4, k, strides=strides, padding=padding, dilation_rate=dilation, groups=groups,
                          bias_initializer="random_normal")
    x = rng.standard_normal((2,) + size + (6,)).astype(np.float32)
    y = layer(x)
    kernel, bias = layer.get_weights()
    assert kernel.shape == k + (6 // groups, 4)
    expected = ref_conv2d(x, kernel.astype(np.float64), bias, strides, padding, dilation, groups)
    assert y.shape == expected.shape
    assert layer.compute_output_shape((None,) + size + (6,)) == (None,) + expected.shape[1:]
    np.testing.assert_allclose(y.data, expected, **TOL)


def test_conv2d_channels_first(rng):
    layer = layers.Conv2D(3, 3, padding="same", data_format="channels_first")
    x = rng.standard_normal((2, 5, 6, 6)).astype(np.float32)
    y = layer(x).data
    kernel, bias = layer.get_weights()
    expected = ref_conv2d(x.transpose(0, 2, 3, 1), kernel, bias, (1, 1), "same").transpose(0, 3, 1, 2)
    np.testing.assert_allclose(y, expected, **TOL)


@pytest.mark.parametrize("cls,kind", [(layers.MaxPooling2D, "max"), (layers.AveragePooling2D, "avg")])
@pytest.mark.parametrize("pool,strides,padding,size", [
    ((2, 2), None, "valid", (7, 6)),
    ((3, 3), (2, 2), "same", (7, 7)),   # symmetric same padding
    ((2, 2), (2, 2), "same", (5, 7)),   # odd sizes: pad only at the bottom/right
    ((3, 2), (1, 2), "same", (6, 5)),
])
def test_pooling_channels_last_matches_numpy(rng, cls, kind, pool, strides, padding, size):
    layer = cls(pool, strides=strides, padding=padding)
    x = rng.standard_normal((2,) + size + (3,)).astype(np.float32)
    y = layer(x).data
    expected = ref_pool(x, pool, strides or pool, padding, kind)
    assert y.shape == expected.shape
    assert layer.compute_output_shape((None,) + size + (3,)) == (None,) + expected.shape[1:]
    np.testing.assert_allclose(y, expected, **TOL)


def test_pooling_gradient_flows_through_asymmetric_same_padding(rng):
    x = fastnn.tensor(rng.standard_normal((1, 5, 5, 2)).astype(np.float32), requires_grad=True)
    layers.AveragePooling2D(2, padding="same")(x).sum().backward()
    # each input falls in exactly one window; the edge windows average fewer inputs
    g = x.grad.data[0, :, :, 0]
    counts = np.array([2, 2, 2, 2, 1], np.float64)
    np.testing.assert_allclose(g, 1.0 / np.outer(counts, counts), **TOL)


def test_global_average_pooling(rng):
    x = rng.standard_normal((2, 4, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(layers.GlobalAveragePooling2D()(x).data, x.mean(axis=(1, 2)), **TOL)
    y = layers.GlobalAveragePooling2D(keepdims=True)(x)
    assert y.shape == (2, 1, 1, 3)
    np.testing.assert_allclose(layers.GlobalMaxPooling2D()(x).data, x.max(axis=(1, 2)), **TOL)


def test_flatten_after_conv_uses_hwc_order(rng):
    x = rng.standard_normal((2, 4, 4, 3)).astype(np.float32)
    model = keras.Sequential([keras.Input((4, 4, 3)), layers.Conv2D(5, 3, padding="same"),
                              layers.MaxPooling2D(), layers.Flatten()])
    conv = model.layers[0]
    kernel, bias = conv.get_weights()
    expected = ref_pool(ref_conv2d(x, kernel, bias, (1, 1), "same"), (2, 2), (2, 2), "valid", "max")
    np.testing.assert_allclose(model(x).data, expected.reshape(2, -1), **TOL)
    assert layers.Flatten()(x).shape == (2, 48)


def test_sequential_keeps_nhwc_interface(rng):
    x = rng.standard_normal((3, 6, 6, 2)).astype(np.float32)
    model = keras.Sequential([keras.Input((6, 6, 2)), layers.Conv2D(4, 3, padding="same", activation="relu"),
                              layers.BatchNormalization(), layers.Activation("softmax")])
    y = model(x).data
    assert y.shape == (3, 6, 6, 4)
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-5)  # softmax over the channels (last axis)
    direct = x
    for layer in model.layers:
        direct = layer(direct)
    np.testing.assert_allclose(y, direct.data, **TOL)


def test_batch_normalization_keras_statistics(rng):
    bn = layers.BatchNormalization(momentum=0.9, epsilon=1e-3)
    x = (rng.standard_normal((8, 3, 3, 4)) * 2 + 1).astype(np.float32)
    y = bn(x, training=True).data
    x64 = x.astype(np.float64)
    mean, var = x64.mean(axis=(0, 1, 2)), x64.var(axis=(0, 1, 2))  # biased, as Keras
    np.testing.assert_allclose(y, (x64 - mean) / np.sqrt(var + 1e-3), **TOL)
    gamma, beta, moving_mean, moving_var = bn.get_weights()
    np.testing.assert_allclose(moving_mean, 0 * 0.9 + mean * 0.1, **TOL)
    np.testing.assert_allclose(moving_var, 1 * 0.9 + var * 0.1, **TOL)
    assert [w.shape for w in bn.get_weights()] == [(4,)] * 4
    assert len(bn.trainable_weights) == 2 and len(bn.non_trainable_weights) == 2
    # inference: the moving statistics, and no update
    z = bn(x, training=False).data
    np.testing.assert_allclose(z, (x64 - moving_mean) / np.sqrt(moving_var + 1e-3), **TOL)
    np.testing.assert_array_equal(bn.get_weights()[2], moving_mean)
    # a frozen layer runs in inference mode even when training
    bn.trainable = False
    np.testing.assert_allclose(bn(x, training=True).data, z, **TOL)
    np.testing.assert_array_equal(bn.get_weights()[2], moving_mean)


def test_batch_normalization_on_features(rng):
    bn = layers.BatchNormalization(center=False)
    x = rng.standard_normal((16, 5)).astype(np.float32)
    y = bn(x, training=True).data
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3), **TOL)
    assert len(bn.get_weights()) == 3  # gamma, moving_mean, moving_variance


def test_dropout_training_and_inference(rng):
    x = np.ones((200, 50), np.float32)
    drop = layers.Dropout(0.4)
    np.testing.assert_array_equal(drop(x).data, x)  # Keras layers start in inference mode
    y = drop(x, training=True).data
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.6, rtol=1e-6)
    assert abs(kept.mean() - 0.6) < 0.03
    drop.train()
    assert (drop(x).data == 0).any()
    a = layers.Dropout(0.5, seed=3)(x, training=True).data
    b = layers.Dropout(0.5, seed=3)(x, training=True).data
    np.testing.assert_array_equal(a, b)


def test_activations_and_small_layers(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(layers.ReLU(max_value=0.5)(x).data, np.clip(x, 0, 0.5), **TOL)
    np.testing.assert_allclose(layers.LeakyReLU()(x).data, np.where(x > 0, x, 0.3 * x), **TOL)
    e = np.exp(x - x.max(-1, keepdims=True))
    np.testing.assert_allclose(layers.Softmax()(x).data, e / e.sum(-1, keepdims=True), **TOL)
    np.testing.assert_allclose(layers.Activation("tanh")(x).data, np.tanh(x), **TOL)
    np.testing.assert_allclose(keras.activations.get("elu")(fastnn.tensor(x)).data,
                               np.where(x > 0, x, np.expm1(x)), **TOL)
    assert layers.Reshape((2, -1))(x).shape == (3, 2, 2)
    with pytest.raises(ValueError, match="Unknown activation"):
        keras.activations.get("swishy")


def test_wrong_input_shape_names_the_layer(rng):
    model = keras.Sequential([keras.Input((8,)), layers.Dense(4, name="hidden"), layers.Dense(2)])
    with pytest.raises(ValueError, match=r'layer "hidden".*axis -1.*value 8.*\(5, 7\)'):
        model(np.zeros((5, 7), np.float32))
    conv = keras.Sequential([keras.Input((6, 6, 3)), layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match=r'layer "conv2d".*expected axis -1 of input shape to have value 3'):
        conv(np.zeros((1, 6, 6, 4), np.float32))
    with pytest.raises(ValueError, match=r"conv2d.*ndim=4, found ndim=2"):
        conv(np.zeros((1, 108), np.float32))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="units"):
        layers.Dense(0)
    with pytest.raises(ValueError, match="padding"):
        layers.Conv2D(2, 3, padding="full")
    with pytest.raises(ValueError, match="dilation_rate"):
        layers.Conv2D(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="rate"):
        layers.Dropout(1.5)
    with pytest.raises(TypeError, match="Unrecognized keyword"):
        layers.Dense(2, bogus=1)


def test_dense_relu_equals_dense_then_relu_bit_for_bit():
    # Dense(activation="relu") fuses the relu into the product; a separate Activation does not
    rng = np.random.default_rng(2)
    fused, plain, act = layers.Dense(6, activation="relu"), layers.Dense(6), layers.Activation("relu")
    x0 = rng.standard_normal((5, 3, 4)).astype(np.float32)
    fused.build((None, 3, 4))
    plain.build((None, 3, 4))
    plain.set_weights(fused.get_weights())
    results = []
    for run, layer in ((fused, fused), (lambda t: act(plain(t)), plain)):
        x = fastnn.tensor(x0, requires_grad=True)
        y = run(x)
        (y * y).sum().backward()
        results.append([y.detach().numpy().tobytes(), x.grad.numpy().tobytes()]
                       + [p.grad.numpy().tobytes() for p in layer.parameters()])
    assert results[0] == results[1]
