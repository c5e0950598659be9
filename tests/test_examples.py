"""End to end: every example's --quick run trains, prints its results and writes its files.

Each runs in-process (main(argv)) into tmp_path; every one also starts as a file
(`python examples/NAME.py`, as a user would type it), and one runs that way to the end.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from examples import (
    cnn_fashion_mnist,
    digits,
    fashion_mnist,
    graph,
    names,
    regression,
    spiral,
    xor,
)

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n"
EXAMPLES = sorted(path.stem for path in (ROOT / "examples").glob("*.py")
                  if path.stem not in ("__init__", "common", "datasets"))


def run(example, tmp_path, capsys):
    results = example.main(["--quick", "--out", str(tmp_path)])
    return results, capsys.readouterr().out


def assert_written(out: str, tmp_path: Path, names) -> None:
    """Each file exists, is a non-empty PNG/SVG/model, and the example said where it is."""
    for name in names:
        path = tmp_path / name
        assert path.is_file() and path.stat().st_size > 0, name
        assert f"wrote {path.resolve()}" in out
        if path.suffix == ".png":
            assert path.read_bytes().startswith(PNG), name
        elif path.suffix == ".svg":
            assert "<svg" in path.read_text(), name


def test_spiral(tmp_path, capsys):
    results, out = run(spiral, tmp_path, capsys)
    assert len(results) == 2  # SGD and Adam
    for name, result in results.items():
        assert result["train_accuracy"] > 0.55, name  # chance is 1/3
        assert f"{name:40s} train accuracy {result['train_accuracy']:.3f}" in out
    assert_written(out, tmp_path, ["spiral_decision_boundary.png", "spiral_loss.png",
                                   "spiral_graph.svg"])
    assert "0.weight" in (tmp_path / "spiral_graph.svg").read_text()  # parameters by name


def test_xor(tmp_path, capsys):
    results, out = run(xor, tmp_path, capsys)
    assert set(results) == {"xavier_uniform", "he_uniform"}
    for init, result in results.items():
        assert result["mean_test_accuracy"] > 0.7, init  # chance is 1/2
        assert out.count(f"{init} ") >= 1 and f"/{result['starts']} starts" in out
    assert_written(out, tmp_path, ["xor_decision_boundary.png", "xor_loss.png"])


def test_digits(tmp_path, capsys):
    results, out = run(digits, tmp_path, capsys)
    assert results["test_accuracy"] > 0.6  # chance is 1/10
    assert f"test accuracy {results['test_accuracy']:.3f}" in out
    assert_written(out, tmp_path, ["digits_confusion.png", "digits_loss.png"])


def test_regression_beats_predicting_the_mean(tmp_path, capsys):
    results, out = run(regression, tmp_path, capsys)
    assert results["test_mse"] < 0.8 * results["baseline_test_mse"]
    assert f"test MSE {results['test_mse']:.0f}" in out
    assert f"baseline: test MSE {results['baseline_test_mse']:.0f}" in out
    assert_written(out, tmp_path, ["regression_test.png", "regression_loss.png"])


def test_fashion_mnist_saves_reloads_and_evaluates(tmp_path, capsys):
    results, out = run(fashion_mnist, tmp_path, capsys)
    assert results["test_accuracy"] > 0.5  # chance is 1/10
    # The reloaded network (built from other initial weights) is the trained one.
    assert results["test_accuracy"] == results["trained_model_test_accuracy"]
    assert "epoch 1/2" in out and "epoch 2/2" in out and "val_accuracy" in out
    assert f"test accuracy {results['test_accuracy']:.4f}" in out and "wall time" in out
    assert_written(out, tmp_path, ["fashion_mnist_mlp.nn", "fashion_mnist_confusion.png",
                                   "fashion_mnist_loss.png"])


def test_shard_optimizer_without_distributed_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        fashion_mnist.main(["--quick", "--shard-optimizer", "--out", str(tmp_path)])
    assert "--shard-optimizer shards across MPI ranks: add --distributed" in \
        capsys.readouterr().err


def test_cnn_fashion_mnist_saves_reloads_and_evaluates(tmp_path, capsys):
    results, out = run(cnn_fashion_mnist, tmp_path, capsys)
    assert results["test_accuracy"] > 0.4  # one epoch on 1,600 images; chance is 1/10
    # The reloaded network is the trained one, batch norm's running statistics included.
    assert results["test_accuracy"] == results["trained_model_test_accuracy"]
    assert f"test accuracy {results['test_accuracy']:.4f}" in out
    assert_written(out, tmp_path, ["fashion_mnist_cnn.nn", "cnn_filters.png",
                                   "cnn_fashion_mnist_confusion.png",
                                   "cnn_fashion_mnist_loss.png"])


def test_names_reports_losses_against_the_bigram_baseline_and_samples(tmp_path, capsys):
    results, out = run(names, tmp_path, capsys)
    uniform = float(np.log(names.VOCAB))  # nats per character of guessing
    for model in ("bigram", "mlp", "transformer"):
        assert 0 < results[model]["val_loss"] < uniform, model
        assert f"{model:12s} {results[model]['train_loss']:7.3f}" in out
    for model in ("mlp", "transformer"):
        samples = results[model]["samples"]
        assert len(samples) == 20 and all(set(w) <= set(names.ALPHABET[1:]) for w in samples)
        assert " ".join(samples) in out
    # The same seed spells the same words.
    model = names.make_mlp(0)
    assert names.sample_mlp(model, 5, seed=3) == names.sample_mlp(model, 5, seed=3)


def test_graph(tmp_path, capsys):
    results, out = run(graph, tmp_path, capsys)
    assert all(norm > 0 for norm in results["grad_norms"].values())
    assert_written(out, tmp_path, ["graph_training_step.svg", "graph_training_step.png",
                                   "graph_network.svg", "graph_network.png"])
    step = (tmp_path / "graph_training_step.svg").read_text()
    assert "Linear" in step and "Tanh" in step and "2.bias" in step


def run_file(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, str(ROOT / "examples" / f"{name}.py"), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_imports_when_run_as_a_file(tmp_path, name):
    """`python examples/NAME.py` finds the `examples` package from any folder (--help stops
    right after the imports)."""
    assert "--quick" in run_file(name, "--help", cwd=tmp_path).stdout


def test_an_example_run_as_a_file_writes_where_it_says(tmp_path):
    done = run_file("graph", "--quick", "--out", "pictures", cwd=tmp_path)
    picture = (tmp_path / "pictures" / "graph_network.png").resolve()
    assert f"wrote {picture}" in done.stdout and picture.read_bytes().startswith(PNG)
