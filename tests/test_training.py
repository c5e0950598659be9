"""fit / evaluate / predict / accuracy: learning, history, early stopping, modes, progress."""

import io
import sys
import time

import numpy as np
import pytest

import autograd_core as ag
import nn
from autograd_core.errors import ShapeError


def spiral(points_per_class=100, classes=3, noise=0.1, seed=0):
    """The interleaved arms of "Neural Networks from Scratch" (angle noise ``noise``)."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for k in range(classes):
        radius = np.linspace(0.0, 1.0, points_per_class)
        angle = np.linspace(4 * k, 4 * (k + 1), points_per_class)
        angle = angle + noise * rng.standard_normal(points_per_class)
        xs.append(np.c_[radius * np.sin(2.5 * angle), radius * np.cos(2.5 * angle)])
        ys.append(np.full(points_per_class, k))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys)


def two_layer(seed=0, hidden=64, inputs=2, outputs=3):
    return nn.Sequential(nn.Dense(inputs, hidden, rng=seed), nn.ReLU(),
                         nn.Dense(hidden, outputs, rng=seed + 1))


def regression(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    return x, (x @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32))


class Recorder(nn.Module):
    """Wraps a model and notes, per call, the training flag, grad mode and input dtype/shape."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.calls = []

    def forward(self, x):
        self.calls.append((self.training, ag.is_grad_enabled(), x.dtype, x.shape,
                           isinstance(x, ag.Tensor)))
        return self.inner(x)


def test_spiral_reaches_95_percent_training_accuracy_in_seconds():
    x, y = spiral()
    model = two_layer()
    started = time.perf_counter()
    history = nn.fit(model, nn.cross_entropy, nn.Adam(model.parameters(), lr=0.02), (x, y),
                     epochs=800, batch_size=100, metrics=["accuracy"], rng=0)
    seconds = time.perf_counter() - started
    assert history.accuracy[-1] >= 0.95, history
    assert nn.accuracy(nn.predict(model, x), y) >= 0.95
    assert nn.evaluate(model, nn.cross_entropy, x, y)["accuracy"] >= 0.95
    assert history.loss[-1] < 0.25 * history.loss[0]
    assert seconds < 10


def test_history_holds_one_entry_per_epoch_of_what_was_asked():
    x, y = spiral(20)
    (x_train, y_train), val = nn.train_val_split(x, y, val_fraction=0.25, rng=0)
    model = two_layer(hidden=16)
    history = nn.fit(model, nn.cross_entropy, nn.Adam(model.parameters(), lr=0.01),
                     (x_train, y_train), epochs=4, batch_size=16, val_data=val,
                     metrics="accuracy", rng=0)
    assert history.epoch == [1, 2, 3, 4] and len(history) == 4
    assert set(history.as_dict()) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy",
                                      "lr", "epoch_time"}
    assert all(len(values) == 4 for values in history.as_dict().values())
    assert history.lr == [0.01] * 4
    assert all(0.0 <= a <= 1.0 for a in history.accuracy + history.val_accuracy)
    assert history.wall_time >= sum(history.epoch_time) > 0
    assert history.val_loss[-1] == pytest.approx(
        nn.evaluate(model, nn.cross_entropy, *val)["loss"])
    assert not history.stopped_early and history.best_epoch is not None
    assert "4 epochs" in repr(history)

    plain = nn.fit(model, nn.cross_entropy, nn.Adam(model.parameters()), (x_train, y_train),
                   epochs=2, batch_size=16, rng=0)
    assert set(plain.as_dict()) == {"epoch", "loss", "lr", "epoch_time"}
    assert plain.accuracy == plain.val_loss == plain.val_accuracy == []
    assert plain.best_epoch is None


def test_history_records_the_learning_rate_of_a_schedule():
    x, y = regression(12)
    model = nn.Dense(3, 1, rng=0)
    schedule = nn.InverseTimeDecay(0.1, decay=0.5)
    optimizer = nn.SGD(model.parameters(), lr=schedule)
    history = nn.fit(model, nn.mse_loss, optimizer, (x, y), epochs=3, batch_size=4, rng=0)
    assert history.lr == pytest.approx([schedule(0), schedule(3), schedule(6)])
    assert optimizer.step_count == 9

    class NoRate:  # an optimizer without a learning rate to show: nothing is recorded
        def zero_grad(self):
            model.zero_grad()

        def step(self):
            pass

    assert nn.fit(model, nn.mse_loss, NoRate(), (x, y), epochs=2, batch_size=4).lr == []


def test_loss_history_is_the_mean_over_examples_with_uneven_batches():
    x, y = regression(10)
    model = nn.Dense(3, 1, rng=0)

    class Frozen:  # no steps: every epoch's loss is the loss of the same weights
        lr = 0.0

        def zero_grad(self):
            model.zero_grad()

        def step(self):
            pass

    history = nn.fit(model, nn.mse_loss, Frozen(), (x, y), epochs=2, batch_size=4, rng=0)
    expected = float(nn.mse_loss(model(ag.Tensor(x)), y).data)
    assert history.loss == pytest.approx([expected, expected], rel=1e-5)
    assert nn.evaluate(model, nn.mse_loss, x, y, batch_size=3, metrics=())["loss"] == \
        pytest.approx(expected, rel=1e-5)


def test_training_is_reproducible_with_a_seed():
    x, y = spiral(20)

    def weights(seed):
        model = two_layer(hidden=8)
        nn.fit(model, nn.cross_entropy, nn.Adam(model.parameters(), lr=0.01), (x, y), epochs=3,
               batch_size=8, rng=seed)
        return model.state_dict()

    first, again, other = weights(1), weights(1), weights(2)
    for name in first:
        np.testing.assert_array_equal(first[name], again[name])
    assert any(not np.array_equal(first[name], other[name]) for name in first)


def test_train_mode_for_steps_eval_mode_without_graph_for_validation():
    x, y = regression(12)
    model = Recorder(nn.Dense(3, 1, rng=0))
    model.eval()
    nn.fit(model, nn.mse_loss, nn.Adam(model.parameters()), (x, y), epochs=1, batch_size=5,
           val_data=(x, y))
    # First the one-example forward pass of the label check, in eval mode without a graph.
    check_call, train_calls, val_calls = model.calls[0], model.calls[1:4], model.calls[4:]
    assert check_call[:2] == (False, False) and check_call[3] == (1, 3)
    assert [c[3][0] for c in train_calls] == [5, 5, 2]
    assert all(c[:2] == (True, True) for c in train_calls)
    assert val_calls and all(c[:2] == (False, False) for c in val_calls)
    assert all(c[2] == np.float32 and c[4] for c in model.calls)  # float32 Tensors, not copies
    assert model.training is False  # the mode it had before fit
    assert ag.is_grad_enabled()


def test_batches_keep_their_dtype():
    x, y = regression(6)
    model = Recorder(nn.Dense(3, 1, rng=0, dtype=np.float64))
    nn.fit(model, nn.mse_loss, nn.Adam(model.parameters()), (x.astype(np.float64), y), epochs=1,
           batch_size=6)
    assert model.calls[0][2] == np.float64


def test_early_stopping_restores_the_best_weights():
    # Validation targets are the negated training targets: every step that fits the training
    # data makes the validation loss worse, so the best epoch is the first.
    x, y = regression(32)
    model = nn.Dense(3, 1, rng=0)
    snapshots = []
    history = nn.fit(model, nn.mse_loss, nn.Adam(model.parameters(), lr=0.05), (x, y), epochs=50,
                     batch_size=8, val_data=(x, -y), patience=3, restore_best=True, rng=0,
                     callbacks=[lambda h: snapshots.append(model.state_dict())])
    assert history.stopped_early and history.restored_best
    assert len(history) == 4 and history.best_epoch == 1
    assert history.val_loss[0] == min(history.val_loss)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, snapshots[0][name])

    kept = nn.Dense(3, 1, rng=0)
    history = nn.fit(kept, nn.mse_loss, nn.Adam(kept.parameters(), lr=0.05), (x, y), epochs=50,
                     batch_size=8, val_data=(x, -y), patience=3, rng=0)
    assert len(history) == 4 and not history.restored_best
    assert not np.array_equal(kept.weight.data, snapshots[0]["weight"])


def test_min_delta_ignores_small_improvements():
    x, y = regression(32)
    model = nn.Dense(3, 1, rng=0)
    history = nn.fit(model, nn.mse_loss, nn.Adam(model.parameters(), lr=0.01), (x, y), epochs=20,
                     batch_size=8, val_data=(x, y), patience=2, min_delta=1e6, rng=0)
    assert history.val_loss[-1] < history.val_loss[0]  # it was improving, by less than min_delta
    assert len(history) == 3 and history.best_epoch == 1 and history.stopped_early


def test_a_callback_sees_the_history_and_can_stop_training():
    x, y = regression(16)
    model = nn.Dense(3, 1, rng=0)
    seen = []

    def stop_after_two(history):
        seen.append(list(history.epoch))
        return len(history) == 2

    history = nn.fit(model, nn.mse_loss, nn.Adam(model.parameters()), (x, y), epochs=10,
                     batch_size=4, callbacks=[stop_after_two])
    assert seen == [[1], [1, 2]] and len(history) == 2 and history.stopped_early


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_silent_unless_stdout_is_a_terminal(capsys, monkeypatch):
    x, y = regression(16)
    model = nn.Dense(3, 1, rng=0)
    nn.fit(model, nn.mse_loss, nn.Adam(model.parameters()), (x, y), epochs=2, batch_size=4)
    assert capsys.readouterr() == ("", "")

    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    nn.fit(model, nn.mse_loss, nn.Adam(model.parameters()), (x, y), epochs=2, batch_size=4)
    assert "epoch 2/2" in terminal.getvalue() and "8/8" in terminal.getvalue()

    quiet = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", quiet)
    nn.fit(model, nn.mse_loss, nn.Adam(model.parameters()), (x, y), epochs=2, batch_size=4,
           progress=False)
    assert quiet.getvalue() == ""
    assert capsys.readouterr().err == ""


def test_progress_true_forces_a_bar_and_verbose_prints_each_epoch(capsys):
    x, y = regression(16)
    model = nn.Dense(3, 1, rng=0)
    nn.fit(model, nn.mse_loss, nn.Adam(model.parameters()), (x, y), epochs=2, batch_size=4,
           progress=True)
    assert "epoch 2/2" in capsys.readouterr().out
    nn.fit(model, nn.mse_loss, nn.Adam(model.parameters()), (x, y), epochs=3, batch_size=4,
           val_data=(x, y), verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[2].startswith("epoch 3/3  loss ") and "val_loss" in lines[2]


def test_predict_matches_the_model_in_eval_mode_without_graph():
    x, _ = spiral(10)
    model = nn.Sequential(nn.Dense(2, 8, rng=0), nn.Dropout(0.5, rng=0), nn.Dense(8, 3, rng=1))
    expected = model.eval()(ag.Tensor(x)).data
    model.train()
    for batch_size in (1, 7, 256):
        out = nn.predict(model, x, batch_size=batch_size)
        assert isinstance(out, np.ndarray) and out.dtype == np.float32
        np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    assert model.training  # restored
    recorder = Recorder(model)
    nn.predict(recorder, x)
    assert recorder.calls[0][:2] == (False, False)
    with pytest.raises(ValueError, match="no examples"):
        nn.predict(model, np.zeros((0, 2), dtype=np.float32))


def test_evaluate_gives_loss_and_accuracy_of_all_examples():
    x, y = spiral(10)
    model = two_layer(hidden=8)
    logits = model(ag.Tensor(x))
    result = nn.evaluate(model, nn.cross_entropy, x, y, batch_size=7)
    assert set(result) == {"loss", "accuracy"}
    assert result["loss"] == pytest.approx(float(nn.cross_entropy(logits, y).data), rel=1e-5)
    assert result["accuracy"] == nn.accuracy(logits, y)
    one_hot = nn.functional.one_hot(y, 3).data
    assert nn.evaluate(model, nn.cross_entropy, x, one_hot)["accuracy"] == result["accuracy"]
    with pytest.raises(ValueError, match="unknown metrics \\['f1'\\]"):
        nn.evaluate(model, nn.cross_entropy, x, y, metrics=["f1"])


def test_accuracy_of_labels_one_hot_and_binary_scores():
    scores = np.array([[2.0, 0.1, 0.0], [0.0, 0.2, 0.9], [0.3, 0.1, 0.2], [0.0, 1.0, 0.0]])
    labels = np.array([0, 2, 1, 1])
    assert nn.accuracy(scores, labels) == 0.75
    assert nn.accuracy(ag.Tensor(scores), ag.Tensor(labels)) == 0.75
    assert nn.accuracy(scores, np.eye(3)[labels]) == 0.75
    logits = np.array([-1.0, 2.0, 0.5, -0.2])
    assert nn.accuracy(logits, np.array([0, 1, 0, 0]), threshold=0.0) == 0.75
    assert nn.accuracy(logits[:, None], np.array([[0.0], [1.0], [1.0], [0.0]]),
                       threshold=0.0) == 1.0
    probs = np.array([[0.2], [0.9], [0.6], [0.4]])
    assert nn.accuracy(probs, np.array([0, 1, 1, 1]), threshold=0.5) == 0.75
    with pytest.raises(ShapeError, match=r"labels of shape \(3,\) do not fit scores of shape"):
        nn.accuracy(scores, labels[:3])
    with pytest.raises(ValueError, match="no examples"):
        nn.accuracy(np.zeros((0, 3)), np.zeros(0, dtype=int))


def test_fit_reports_bad_arguments_clearly():
    x, y = regression(8)
    model = nn.Dense(3, 1, rng=0)
    optimizer = nn.Adam(model.parameters())

    def fit(**kwargs):
        args = dict(train_data=(x, y), epochs=1, batch_size=4) | kwargs
        return nn.fit(model, nn.mse_loss, optimizer, **args)

    with pytest.raises(TypeError, match="train_data must be an \\(x, y\\) pair"):
        fit(train_data=x)
    with pytest.raises(ShapeError, match="array 0 has 8, array 1 has 7"):
        fit(train_data=(x, y[:7]))
    with pytest.raises(ShapeError, match="val_data.*array 0 has 8, array 1 has 2"):
        fit(val_data=(x, y[:2]))
    with pytest.raises(ValueError, match="pass val_data"):
        fit(patience=2)
    with pytest.raises(ValueError, match="pass val_data"):
        fit(restore_best=True)
    with pytest.raises(ValueError, match="patience must be a positive int"):
        fit(val_data=(x, y), patience=0)
    with pytest.raises(ValueError, match="unknown metrics"):
        fit(metrics=["precision"])
    with pytest.raises(ValueError, match="leaves no batch"):
        fit(batch_size=16, drop_last=True)
    with pytest.raises(ValueError, match="epochs must be a non-negative int"):
        fit(epochs=-1)
    with pytest.raises(TypeError, match="rng must be a seed"):
        fit(rng="seed")
    with pytest.raises(ValueError, match="train_data holds no examples"):
        fit(train_data=(x[:0], y[:0]))


# ---- accuracy follows what the output is --------------------------------------------------------

def test_one_column_accuracy_needs_a_threshold_and_uses_it():
    probs = np.array([[0.9], [0.8], [0.1], [0.3]])  # a sigmoid model, right on every example
    labels = np.array([1, 1, 0, 0])
    assert nn.accuracy(probs, labels, threshold=0.5) == 1.0
    assert nn.accuracy(probs[:, 0], labels.astype(np.float64), threshold=0.5) == 1.0
    logits = np.array([2.0, 0.5, -1.0, 0.2])
    assert nn.accuracy(logits, labels, threshold=0.0) == 0.75
    with pytest.raises(ValueError, match=r"accuracy: scores of shape \(4, 1\) are one binary "
                                         r"score per example: pass threshold=0.0 .* logits or "
                                         r"threshold=0.5 .* probabilities"):
        nn.accuracy(probs, labels)
    with pytest.raises(ValueError, match=r"threshold=0.5 applies to one-column"):
        nn.accuracy(np.eye(3), np.arange(3), threshold=0.5)
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        nn.accuracy(probs, labels, threshold=float("nan"))


def test_float_labels_with_whole_values_are_class_labels():
    scores = np.array([[0.0, 0.1, 0.9], [0.8, 0.1, 0.1], [0.2, 0.7, 0.1]])
    assert nn.accuracy(scores, np.array([2.0, 0.0, 1.0])) == 1.0
    assert nn.accuracy(scores, np.array([2.0, 0.0, 0.0])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match=r"float labels must be whole numbers .* got \[0.5\]"):
        nn.accuracy(scores, np.array([2.0, 0.5, 1.0]))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\] .* got \[3\]"):
        nn.accuracy(scores, np.array([2, 0, 3]))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 1\] .* got \[2\]"):
        nn.accuracy(np.array([0.3, -0.2]), np.array([2, 0]), threshold=0.0)


class Constant(nn.Module):
    """A model whose output is the given column of numbers per row of x (x holds row indices)."""

    def __init__(self, outputs):
        super().__init__()
        self.outputs = np.asarray(outputs)
        self.scale = nn.Parameter(np.ones(1))

    def forward(self, x):
        return ag.Tensor(self.outputs[x.data[:, 0].astype(int)]) * self.scale


def binary_cross_entropy(probs, target):
    """BCE on probabilities, as a user would write it for a Sigmoid output."""
    target = target.data.reshape(probs.shape)
    return -(target * ag.log(probs) + (1 - target) * ag.log(1 - probs)).mean()


def test_evaluate_and_fit_take_the_threshold_and_report_accuracy_only_for_classification():
    x = np.arange(4.0)[:, None]
    probs = np.array([[0.9], [0.8], [0.1], [0.3]])
    y = np.array([1.0, 1.0, 0.0, 0.0])
    model = Constant(probs)
    # A sigmoid model that is right on every example: 1.0, not 0.5.
    result = nn.evaluate(model, binary_cross_entropy, x, y, metrics=["accuracy"], threshold=0.5)
    assert result["accuracy"] == 1.0
    with pytest.raises(ValueError, match="pass threshold=0.0"):
        nn.evaluate(model, binary_cross_entropy, x, y, metrics=["accuracy"])
    # A loss on logits says what its threshold is.
    logits = Constant(np.array([[2.0], [0.5], [-1.0], [0.2]]))
    assert nn.evaluate(logits, nn.binary_cross_entropy_with_logits, x, y[:, None]) == \
        {"loss": pytest.approx(np.mean(np.log1p(np.exp(-np.array([2.0, 0.5, 1.0, -0.2]))))),
         "accuracy": 0.75}
    # Regression: the loss only, unless accuracy is asked for.
    assert set(nn.evaluate(model, nn.mse_loss, x, probs)) == {"loss"}
    history = nn.fit(model, binary_cross_entropy, nn.SGD(model.parameters(), lr=0.0), (x, y),
                     epochs=1, batch_size=2, val_data=(x, y), metrics=["accuracy"],
                     threshold=0.5, shuffle=False)
    assert history.accuracy == history.val_accuracy == [1.0]


# ---- fit checks everything before the first step ------------------------------------------------

def snapshot(model, optimizer, *arrays):
    """Every parameter array, the optimizer's whole state (buffers, step count, numbers) and the
    data, copied."""
    params = [p.data.copy() for p in model.parameters()]
    state = {k: np.array(v, copy=True) if isinstance(v, np.ndarray) else v
             for k, v in optimizer.state_dict().items()}
    return params, state, [np.array(a, copy=True) for a in arrays]


def assert_unchanged(before, model, optimizer, *arrays):
    params, state, data = before
    for old, new in zip(params, [p.data for p in model.parameters()], strict=True):
        np.testing.assert_array_equal(new, old)
    after = optimizer.state_dict()
    assert after.keys() == state.keys()
    for key, value in state.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)
    for old, new in zip(data, arrays, strict=True):
        np.testing.assert_array_equal(new, old)


def trained_a_little():
    x, y = spiral(10)
    model = two_layer(hidden=8)
    optimizer = nn.Adam(model.parameters(), lr=0.01)
    nn.fit(model, nn.cross_entropy, optimizer, (x, y), epochs=1, batch_size=8, rng=0)
    assert optimizer.step_count > 0  # moment buffers that are not zero
    return x, y, model, optimizer


def test_a_bad_label_in_the_last_batch_raises_before_any_step():
    x, y, model, optimizer = trained_a_little()
    y_bad = y.copy()
    y_bad[-1] = 3  # three classes
    before = snapshot(model, optimizer, x, y_bad)
    with pytest.raises(ValueError, match=r"cross_entropy: labels must be in \[0, 2\]") as error:
        nn.fit(model, nn.cross_entropy, optimizer, (x, y_bad), epochs=2, batch_size=4,
               shuffle=False)
    assert "labels of train_data (rows 0 to 29)" in "".join(error.value.__notes__)
    assert_unchanged(before, model, optimizer, x, y_bad)


def test_a_bad_validation_label_raises_before_any_step():
    x, y, model, optimizer = trained_a_little()
    y_val = y.copy()
    y_val[5] = -1
    before = snapshot(model, optimizer, x, y, y_val)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\] for 3 classes, got \[-1\]"):
        nn.fit(model, nn.cross_entropy, optimizer, (x, y), epochs=1, batch_size=4,
               val_data=(x, y_val))
    assert_unchanged(before, model, optimizer, x, y, y_val)
    # Float labels of the wrong shape for the accuracy, and one-column outputs without a
    # threshold, are found before the first step too.
    with pytest.raises(ValueError, match="float labels must be whole numbers"):
        nn.fit(model, lambda out, t: nn.mse_loss(out[:, 0], t), optimizer,
               (x, y + 0.5), epochs=1, metrics=["accuracy"])
    assert_unchanged(before, model, optimizer, x, y, y_val)


def test_a_one_column_model_without_threshold_raises_before_any_step():
    x, y = regression(8)
    model = nn.Dense(3, 1, rng=0)
    optimizer = nn.SGD(model.parameters(), lr=0.1, momentum=0.9)
    before = snapshot(model, optimizer, x, y)
    with pytest.raises(ValueError, match="pass threshold=0.0"):
        nn.fit(model, nn.mse_loss, optimizer, (x, (y > 0).astype(np.float32)), epochs=1,
               metrics=["accuracy"])
    assert_unchanged(before, model, optimizer, x, y)


def test_fit_with_another_models_optimizer_is_refused():
    x, y = regression(8)
    model, other = nn.Dense(3, 1, rng=0), nn.Dense(3, 1, rng=1)
    optimizer = nn.SGD(other.parameters(), lr=0.1)
    before = snapshot(model, optimizer, x, y)
    with pytest.raises(ValueError, match=r"fit: the optimizer updates none of the model's "
                                         r"parameters \(its 2 parameters are not among the "
                                         r"model's 2\)"):
        nn.fit(model, nn.mse_loss, optimizer, (x, y), epochs=1)
    assert_unchanged(before, model, optimizer, x, y)
    # An optimizer over a part of the model (fine-tuning one layer) is fine.
    net = two_layer(hidden=4, inputs=3, outputs=1)
    nn.fit(net, nn.mse_loss, nn.SGD(net[2].parameters(), lr=0.01), (x, y), epochs=1)


def test_fit_with_a_schedule_that_overflows_stops_with_a_clear_error():
    x, y = regression(8)
    # float64: an lr near 1e308 would be inf once cast to float32 parameters.
    model = nn.Dense(3, 1, rng=0, dtype=np.float64)
    weights = [p.data.copy() for p in model.parameters()]
    optimizer = nn.SGD(model.parameters(), lr=nn.ExponentialDecay(1.0, gamma=10.0))
    flat = lambda out, t: (out * 0.0).mean()  # noqa: E731  (zero gradients: weights stay put)
    with pytest.raises(ValueError, match=r"ExponentialDecay.*at step 309 is inf \(it overflows"):
        nn.fit(model, flat, optimizer, (x, y), epochs=1000, batch_size=8)
    assert optimizer.step_count == 309
    for old, p in zip(weights, model.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, old)
