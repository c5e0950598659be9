"""nn.GradientFlow (gradient norms and update/weight ratios recorded by gradient hooks) and the
gradient-flow example, end to end."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import autograd_core as ag
import nn
from examples import gradient_flow

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n"


def linear_data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((6, 3)), rng.standard_normal((6, 2))


def reference_linear_run(weight, bias, x, y, lr: float, epochs: int, batches: int):
    """Plain numpy: SGD on mean((x W + b - y)^2) in ``batches`` equal batches per epoch; per
    epoch, the mean of ||dL/dW|| and of ||W_after - W_before|| / ||W_before|| over its steps, and
    the gradients (dL/dW, dL/db) of its last step."""
    weight, bias = weight.copy(), bias.copy()
    norms, ratios, last = [], [], []
    for _ in range(epochs):
        epoch_norms, epoch_ratios = [], []
        for xb, yb in zip(np.split(x, batches), np.split(y, batches)):
            residual = xb @ weight + bias - yb
            grad_w = 2 * xb.T @ residual / residual.size
            grad_b = 2 * residual.sum(axis=0) / residual.size
            new = weight - lr * grad_w
            epoch_norms.append(np.linalg.norm(grad_w))
            epoch_ratios.append(np.linalg.norm(new - weight) / np.linalg.norm(weight))
            weight, bias = new, bias - lr * grad_b
        norms.append(np.mean(epoch_norms))
        ratios.append(np.mean(epoch_ratios))
        last.append((grad_w, grad_b))
    return norms, ratios, last


@pytest.mark.parametrize("batches", [1, 3])
def test_records_the_gradient_norm_and_update_ratio_of_each_epoch(batches):
    x, y = linear_data()
    model = nn.Dense(3, 2, rng=0, dtype=np.float64)
    weight, bias = model.weight.data.copy(), model.bias.data.copy()
    flow = nn.GradientFlow(model)
    assert flow.names == ["weight"]  # the bias has one dimension: not a layer's weights
    nn.fit(model, nn.mse_loss, nn.SGD(model.parameters(), lr=0.1), (x, y), epochs=3,
           batch_size=len(x) // batches, shuffle=False, callbacks=[flow], progress=False)
    norms, ratios, last = reference_linear_run(weight, bias, x, y, 0.1, 3, batches)
    assert flow.epochs == [1, 2, 3]
    np.testing.assert_allclose(flow.grad_norm["weight"], norms, rtol=1e-12)
    np.testing.assert_allclose(flow.update_ratio["weight"], ratios, rtol=1e-9)
    # The histogram values are the gradient of each epoch's last backward pass.
    for recorded, (grad_w, _) in zip(flow.grad_values["weight"], last):
        np.testing.assert_allclose(recorded, grad_w.ravel(), rtol=1e-12)


def test_watches_biases_with_which_all_and_leaves_the_gradients_alone():
    x, y = linear_data()
    watched, plain = (nn.Dense(3, 2, rng=0, dtype=np.float64) for _ in range(2))
    weight, bias = plain.weight.data.copy(), plain.bias.data.copy()
    flow = nn.GradientFlow(watched, which="all")
    assert flow.names == ["weight", "bias"]
    for model in (watched, plain):
        nn.fit(model, nn.mse_loss, nn.SGD(model.parameters(), lr=0.1), (x, y), epochs=2,
               batch_size=2, shuffle=False, progress=False,
               callbacks=[flow] if model is watched else [])
    # The hooks only look: both models trained identically.
    np.testing.assert_array_equal(watched.weight.data, plain.weight.data)
    np.testing.assert_array_equal(watched.bias.data, plain.bias.data)
    _, _, last = reference_linear_run(weight, bias, x, y, 0.1, 2, 3)
    for epoch, (grad_w, grad_b) in enumerate(last):
        np.testing.assert_allclose(flow.grad_values["bias"][epoch], grad_b, rtol=1e-12)
        np.testing.assert_allclose(flow.grad_values["weight"][epoch], grad_w.ravel(), rtol=1e-12)


def test_a_manual_loop_ends_epochs_itself_and_remove_stops_recording():
    x = ag.Tensor(np.ones((4, 3)))
    model = nn.Sequential(nn.Dense(3, 3, rng=0, dtype=np.float64), nn.Tanh(),
                          nn.Dense(3, 1, rng=1, dtype=np.float64))
    flow = nn.GradientFlow(model)
    assert flow.names == ["0.weight", "2.weight"]
    model(x).sum().backward()
    expected = [float(np.linalg.norm(p.grad.data)) for p in (model[0].weight, model[2].weight)]
    flow.end_epoch()  # no step was taken: the weights did not move
    assert flow.epochs == [1]
    assert [flow.grad_norm[n][0] for n in flow.names] == pytest.approx(expected, rel=1e-12)
    assert flow.update_ratio["0.weight"] == [0.0]
    assert flow.first_to_last() == pytest.approx([expected[0] / expected[1]], rel=1e-12)
    flow.end_epoch()  # an epoch without a backward pass
    assert np.isnan(flow.grad_norm["0.weight"][1]) and np.isnan(flow.update_ratio["0.weight"][1])
    flow.remove()
    model(x).sum().backward()
    flow.end_epoch()
    assert np.isnan(flow.grad_norm["0.weight"][2]) and "removed" in repr(flow)


def test_recorded_gradients_are_not_changed_by_clipping_afterwards():
    # clip_grad_norm_ scales .grad in place after the hook has seen it: the records keep the
    # gradient backward produced, d(sum((x W)^2))/dW = 2 x^T (x W).
    model = nn.Dense(2, 2, bias=False, rng=0, dtype=np.float64)
    x = np.array([[1.0, 2.0], [3.0, -1.0]])
    flow = nn.GradientFlow(model)
    (model(ag.Tensor(x)) ** 2).sum().backward()
    nn.clip_grad_norm_(model.parameters(), max_norm=1e-3)
    flow.end_epoch()
    by_hand = 2 * x.T @ (x @ model.weight.data)
    np.testing.assert_allclose(flow.grad_values["weight"][0], by_hand.ravel(), rtol=1e-12)
    assert flow.grad_norm["weight"][0] == pytest.approx(np.linalg.norm(by_hand), rel=1e-12)
    assert np.linalg.norm(model.weight.grad.data) == pytest.approx(1e-3)


def test_histogram_values_are_thinned_to_histogram_size():
    model = nn.Dense(10, 10, rng=0, dtype=np.float64)
    flow = nn.GradientFlow(model, histogram_size=7)
    (model(ag.Tensor(np.arange(30.0).reshape(3, 10))) ** 2).sum().backward()
    flow.end_epoch()
    full = model.weight.grad.data.ravel()
    np.testing.assert_array_equal(flow.grad_values["weight"][0], full[[0, 16, 33, 49, 66, 82, 99]])


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(TypeError, match="GradientFlow: expected an nn.Module"):
        nn.GradientFlow([nn.Dense(2, 2)])
    with pytest.raises(ValueError, match="which must be one of"):
        nn.GradientFlow(nn.Dense(2, 2), which="biases")
    with pytest.raises(ValueError, match="histogram_size must be a positive int"):
        nn.GradientFlow(nn.Dense(2, 2), histogram_size=0)
    with pytest.raises(ValueError, match="no parameters to watch"):
        nn.GradientFlow(nn.Sequential(nn.ReLU()))
    with pytest.raises(ValueError, match="no epoch recorded yet"):
        nn.GradientFlow(nn.Dense(2, 2)).plot()


def test_plots_are_written(tmp_path):
    x, y = linear_data()
    model = nn.Sequential(nn.Dense(3, 4, rng=0), nn.ReLU(), nn.Dense(4, 2, rng=1))
    with nn.GradientFlow(model) as flow:
        nn.fit(model, nn.mse_loss, nn.SGD(model.parameters(), lr=0.1), (x, y), epochs=2,
               batch_size=3, callbacks=[flow], progress=False)
    lines = flow.plot(tmp_path / "flow.png", title="t")
    histograms = flow.plot_histograms(tmp_path / "hist.png", epoch=0)
    assert [line.get_label() for line in lines.axes[0].get_lines()] == ["0.weight", "2.weight"]
    assert list(lines.axes[0].get_lines()[0].get_xdata()) == [1, 2]
    for name, fig in (("flow.png", lines), ("hist.png", histograms)):
        assert (tmp_path / name).read_bytes().startswith(PNG)
        fig.clf()


def test_the_library_does_not_import_matplotlib():
    code = "import sys, nn; nn.GradientFlow(nn.Dense(2, 2)); print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_the_example_shows_vanishing_gradients_for_sigmoid_xavier_only(tmp_path, capsys):
    results = gradient_flow.main(["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    sigmoid, relu = results["sigmoid_xavier"], results["relu_he"]
    # Eight sigmoid layers shrink the gradient by orders of magnitude on its way to the first
    # layer (each passes at most 1/4 of it); ReLU with He's weights keeps it the same size.
    assert sigmoid["first_to_last"] < 1e-3
    assert 0.1 < relu["first_to_last"] < 10
    assert sigmoid["first_to_last"] < 1e-3 * relu["first_to_last"]
    # The first layer's weights barely move under sigmoid/Xavier.
    assert sigmoid["update_ratio"]["0.weight"][-1] < 1e-2 * relu["update_ratio"]["0.weight"][-1]
    for name, result in results.items():
        assert f"{name:15s} gradient norm 0.weight / 16.weight: {result['first_to_last']:.2e}" \
            in out
        for stem in ("gradient_flow", "gradient_histograms"):
            path = tmp_path / f"{stem}_{name}.png"
            assert path.read_bytes().startswith(PNG) and f"wrote {path.resolve()}" in out
