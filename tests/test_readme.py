"""The README's Python examples run as written (they are the first code a user copies)."""

import re
from pathlib import Path

import fastnn

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_examples_run(set_threads, capsys, tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "README.md has no Python examples"
    namespace = {}
    monkeypatch.chdir(tmp_path)  # the examples write files
    exec(compile("\n".join(blocks), str(README), "exec"), namespace)  # noqa: S102 - our own README
    assert "fastnn" in capsys.readouterr().out  # show_config printed
    assert namespace["gw"].shape == namespace["w"].shape
    assert namespace["loss"].item() > 0 and len(list(namespace["model"].parameters())) == 4
    # The Keras-style and PyTorch-style examples train on the shipped sample.
    assert len(namespace["history"].history["val_accuracy"]) == 3
    assert (namespace["predicted"].numpy() == namespace["y_test"]).mean() > 0.7
    assert fastnn.get_num_threads() == 1  # the example's last setting; the fixture restores it
