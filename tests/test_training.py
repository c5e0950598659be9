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
    train_calls, val_calls = model.calls[:3], model.calls[3:]
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
    assert nn.accuracy(logits, np.array([0, 1, 0, 0])) == 0.75
    assert nn.accuracy(logits[:, None], np.array([[0.0], [1.0], [1.0], [0.0]])) == 1.0
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
