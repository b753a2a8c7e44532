"""``python -m fastnn.demo``: train a small CNN on Fashion-MNIST with the Keras-style API.

It reads the full dataset when its files are found (``$FASTNN_DATA``, the user's data
folder, or Debian's ``dataset-fashion-mnist`` package), else the 3000/1000-image sample
shipped inside fastnn; shows the model, a progress bar per epoch, the time of each epoch
and the test accuracy per class, and writes the learning curves to a PNG (with matplotlib,
the ``plot`` extra).
"""

import argparse
import sys
import time

import numpy as np

import fastnn
from fastnn import datasets, keras
from fastnn.keras import layers
from fastnn.metrics import confusion_matrix

VALIDATION_SPLIT = 0.1  # the last 10% of the training images, as Keras takes them


def load(sample):
    """(x_train, y_train, x_test, y_test, description): images as float32 NHWC in [0, 1]."""
    source = "the sample shipped with fastnn"
    if sample:
        train, test = datasets.fashion_mnist_sample(train=True), datasets.fashion_mnist_sample(train=False)
    else:
        try:
            train, test = datasets.FashionMNIST(train=True), datasets.FashionMNIST(train=False)
            source = f"the full dataset in {datasets.find_files('fashion-mnist', 'train')[0].parent}"
        except FileNotFoundError:
            train, test = datasets.fashion_mnist_sample(train=True), datasets.fashion_mnist_sample(train=False)
            source += " (the full dataset was not found; `apt-get install dataset-fashion-mnist` brings it)"

    def prepare(ds):
        x = ds.data.numpy().astype(np.float32)[..., None] / 255.0
        return x, ds.targets.numpy()

    return (*prepare(train), *prepare(test), source, train.classes)


def build_model():
    """Two 3x3 convolutions with max pooling, then a dense classifier (dropout before it,
    softmax output)."""
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dropout(0.25),
        layers.Dense(128, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ], name="fashion_cnn")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastnn.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="training epochs (default: 3)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default: 32, as Keras)")
    parser.add_argument("--sample", action="store_true", help="use the shipped sample even if the full data is here")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N training images only")
    parser.add_argument("--plot", default="fastnn-demo-curves.png",
                        help="where to write the learning curves (default: %(default)s; '' for none)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="Keras's fit verbosity")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1:
        parser.error("--epochs and --batch-size must be at least 1")

    fastnn.show_config()
    x_train, y_train, x_test, y_test, source, classes = load(args.sample)
    if args.limit is not None:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    print(f"\nFashion-MNIST from {source}: {len(x_train)} training and {len(x_test)} test images\n")

    keras.utils.set_random_seed(args.seed)
    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary()

    epoch_seconds = []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: epoch_seconds.append(time.perf_counter()),
        on_epoch_end=lambda epoch, logs: epoch_seconds.__setitem__(-1, time.perf_counter() - epoch_seconds[-1]))
    history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                        validation_split=VALIDATION_SPLIT, callbacks=[timer], verbose=args.verbose)

    print("\nepoch  seconds  loss    accuracy  val_loss  val_accuracy")
    h = history.history
    for i, seconds in enumerate(epoch_seconds):
        print(f"{i + 1:5d}  {seconds:7.1f}  {h['loss'][i]:.4f}  {h['accuracy'][i]:8.4f}  {h['val_loss'][i]:8.4f}"
              f"  {h['val_accuracy'][i]:12.4f}")

    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    predicted = model.predict(x_test, batch_size=256, verbose=0).argmax(axis=1)
    cm = confusion_matrix(y_test, predicted, labels=list(range(10)))
    print(f"\ntest accuracy {test_accuracy:.4f} (loss {test_loss:.4f}) on {len(x_test)} images; per class:")
    for name, row, i in zip(classes, cm, range(10)):
        print(f"  {name:12s} {row[i] / max(row.sum(), 1):.3f}")

    if args.plot:
        try:
            n_val = len(x_train) - int(len(x_train) * (1 - VALIDATION_SPLIT))
            history.plot(args.plot, title=f"fastnn demo: Fashion-MNIST CNN ({len(x_train) - n_val} training, "
                                          f"{n_val} validation images)")
            print(f"\nlearning curves written to {args.plot}")
        except ImportError as exc:
            print(f"\nno learning-curve plot: {exc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
