"""Predict diabetes progression with an MLP regressor: identity output and mean squared error.

    python -m examples.regression        # a few seconds; --quick for a smoke run

The seed tutorials' regression set-up on scikit-learn's diabetes data (442 patients, 10
standardised features, a disease-progression score): Dense-ReLU-Dense with an identity output,
trained on MSE with Adam, L2 weight decay and early stopping on a validation split. Targets are
standardised for training; errors are reported in the score's own units against the baseline
that predicts the training mean for everyone. Writes predicted-against-true and the loss curves
to --out (default out/).
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file (python examples/regression.py): make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import nn
from examples import datasets
from examples.common import parse_args, plot_curves, pyplot, report_written, save_figure


def make_model(seed: int, hidden: int = 32) -> nn.Module:
    return nn.Sequential(nn.Dense(10, hidden, init="he_uniform", rng=seed), nn.ReLU(),
                         nn.Dense(hidden, 1, rng=seed + 1), nn.Identity())


def mse(prediction: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean((prediction - target) ** 2))


def plot_predictions(y_true, y_pred, path: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    ax.scatter(y_true, y_pred, s=12, alpha=0.7)
    low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    ax.plot([low, high], [low, high], "k--", linewidth=1, label="perfect")
    ax.set_xlabel("true progression score")
    ax.set_ylabel("predicted")
    ax.legend()
    return save_figure(fig, path)


def main(argv=None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    x, y = datasets.diabetes()
    (x_train, y_train), (x_test, y_test) = datasets.split(x, y, test_fraction=0.2, rng=args.seed)
    (x_fit, y_fit), (x_val, y_val) = datasets.split(x_train, y_train, test_fraction=0.2,
                                                    rng=args.seed + 1)
    # Unit-variance targets keep the first gradients (and Adam's steps) of a sensible size.
    mean, scale = float(y_fit.mean()), float(y_fit.std())

    def standardised(targets):
        return ((targets - mean) / scale)[:, None].astype(np.float32)

    model = make_model(args.seed)
    history = nn.fit(model, nn.mse_loss, nn.Adam(model.parameters(), lr=3e-3, weight_decay=1e-3),
                     (x_fit, standardised(y_fit)), epochs=30 if args.quick else 500,
                     batch_size=32, val_data=(x_val, standardised(y_val)), rng=args.seed,
                     patience=None if args.quick else 40, restore_best=True, progress=False)

    def predicted(features):
        return nn.predict(model, features)[:, 0] * scale + mean

    results = {"train_mse": mse(predicted(x_fit), y_fit),
               "test_mse": mse(predicted(x_test), y_test),
               "baseline_test_mse": mse(np.full_like(y_test, mean), y_test),
               "epochs": len(history), "best_epoch": history.best_epoch,
               "seconds": history.wall_time}
    results["test_r2"] = 1.0 - results["test_mse"] / float(np.var(y_test))
    print(f"10-{model[0].out_features}-1 ReLU MLP, {len(x_fit)} training patients: "
          f"{results['epochs']} epochs (best {results['best_epoch']}), "
          f"{results['seconds']:.1f} s")
    print(f"train MSE {results['train_mse']:.0f}  test MSE {results['test_mse']:.0f}  "
          f"(predict-the-mean baseline: test MSE {results['baseline_test_mse']:.0f}); "
          f"test R^2 {results['test_r2']:.3f}")
    report_written(plot_predictions(y_test, predicted(x_test), args.out / "regression_test.png"),
                   plot_curves({"diabetes": history}, args.out / "regression_loss.png"))
    return results


if __name__ == "__main__":
    main()
