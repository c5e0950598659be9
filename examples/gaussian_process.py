"""Gaussian-process regression on the diabetes data, hyperparameters fitted by the exact gradient
of the log marginal likelihood, side by side with scikit-learn's GaussianProcessRegressor.

    python -m examples.gaussian_process      # a few seconds; --quick for a smoke run

Kernel: ``s2 * exp(-|x - x'|^2 / (2 l^2)) + n2 * [x == x']`` (scikit-learn's
``ConstantKernel * RBF + WhiteKernel``), with theta = (log s2, log l, log n2) in scikit-learn's
order. The log marginal likelihood of the standardised training targets y,

    log p(y | theta) = -y^T K^-1 y / 2 - log det K / 2 - n log(2 pi) / 2,

is computed with a Cholesky factor K = L L^T: K^-1 y by two triangular solves (``cholesky_solve``)
and log det K = 2 sum(log diag L); its gradient with respect to theta comes from backward()
through ``cholesky`` and ``solve_triangular``. L-BFGS (scipy.optimize, which scikit-learn
installs) maximises it from the same start as scikit-learn's (all three hyperparameters 1), with
our value and gradient.

Two problems: "bmi" (the body-mass index, the feature most correlated with the score, 0.59:
a 1-D curve whose posterior mean and 2-sigma band can be drawn) and "all" (the 10 features, one
isotropic length scale). Features are standardised with the training split's statistics, targets
likewise; RMSE is reported in the score's units on the held-out 20%. Writes the 1-D posterior
plot to --out. --quick fits on 100 training patients with 10 L-BFGS iterations.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if not __package__:  # run as a file (python examples/gaussian_process.py)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import autograd_core as ag
from examples import datasets
from examples.common import parse_args, pyplot, report_written, save_figure

BMI = 2  # column of the body-mass index in scikit-learn's diabetes data
START = np.zeros(3)  # log of (signal variance, length scale, noise variance) = log 1


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a_i - b_j|^2 for every pair of rows (constants: only the hyperparameters are fitted)."""
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T, 0.0)


def kernel(theta, distances):
    """s2 * exp(-d / (2 l^2)) for a theta Tensor (log s2, log l, log n2): recorded."""
    return ag.exp(theta[0]) * ag.exp(-0.5 * distances * ag.exp(-2.0 * theta[1]))


def log_marginal_likelihood(theta, distances: np.ndarray, y: np.ndarray):
    """log p(y | theta) through the Cholesky factor of K = kernel + noise * I."""
    n = len(y)
    covariance = kernel(theta, distances) + ag.exp(theta[2]) * np.eye(n)
    factor = ag.linalg.cholesky(covariance)
    alpha = ag.linalg.cholesky_solve(factor, y)  # K^-1 y
    log_det = 2.0 * ag.log(ag.linalg.diagonal(factor)).sum()
    return -0.5 * (y * alpha).sum() - 0.5 * log_det - 0.5 * n * np.log(2 * np.pi)


def value_and_gradient(theta: np.ndarray, distances, y) -> tuple[float, np.ndarray]:
    """The negative log marginal likelihood and its exact gradient (what L-BFGS minimises)."""
    t = ag.Tensor(theta, requires_grad=True)
    lml = log_marginal_likelihood(t, distances, y)
    lml.backward()
    return -float(lml.data), -t.grad.data


def fit(distances, y, max_iterations: int) -> tuple[np.ndarray, int]:
    from scipy.optimize import minimize

    result = minimize(value_and_gradient, START, args=(distances, y), jac=True,
                      method="L-BFGS-B", options={"maxiter": max_iterations})
    return result.x, int(result.nfev)


def predict(theta, x_train, y_train, x_new):
    """Posterior mean and standard deviation of a new observation (noise included) at x_new."""
    s2, length, n2 = np.exp(theta)
    with ag.no_grad():
        t = ag.Tensor(theta)
        covariance = kernel(t, squared_distances(x_train, x_train)) + n2 * np.eye(len(x_train))
        factor = ag.linalg.cholesky(covariance)
        cross = kernel(t, squared_distances(x_train, x_new))  # (n_train, n_new)
        mean = cross.T @ ag.linalg.cholesky_solve(factor, y_train)
        v = ag.linalg.solve_triangular(factor, cross, lower=True)
        variance = s2 + n2 - (v * v).sum(axis=0)
    return mean.data, np.sqrt(np.maximum(variance.data, 0.0))


def sklearn_fit(x_train, y_train, max_iterations: int | None):
    """scikit-learn's fit from the same start; its own L-BFGS-B (iterations capped if asked)."""
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    def capped(objective, theta, bounds):
        from scipy.optimize import minimize

        result = minimize(objective, theta, jac=True, method="L-BFGS-B", bounds=bounds,
                          options={"maxiter": max_iterations})
        return result.x, result.fun

    model = GaussianProcessRegressor(
        ConstantKernel(1.0) * RBF(1.0) + WhiteKernel(1.0), random_state=0,
        optimizer="fmin_l_bfgs_b" if max_iterations is None else capped)
    return model.fit(x_train, y_train)


def run_problem(name, x_train, y_train, x_test, y_test, max_iterations: int | None) -> dict:
    mean, scale = float(y_train.mean()), float(y_train.std())
    y = (y_train - mean) / scale
    distances = squared_distances(x_train, x_train)
    started = time.perf_counter()
    theta, evaluations = fit(distances, y, max_iterations or 15000)  # scipy's default cap
    ours_seconds = time.perf_counter() - started
    prediction, _ = predict(theta, x_train, y, x_test)
    started = time.perf_counter()
    model = sklearn_fit(x_train, y, max_iterations)
    sklearn_seconds = time.perf_counter() - started
    sk_theta = model.kernel_.theta
    # Cross-check: our likelihood at scikit-learn's optimum equals scikit-learn's own value.
    ours_at_sk = -value_and_gradient(sk_theta, distances, y)[0]

    def rmse(standardised):
        return float(np.sqrt(np.mean((standardised * scale + mean - y_test) ** 2)))

    result = {
        "ours": {"lml": -value_and_gradient(theta, distances, y)[0],
                 "rmse": rmse(prediction), "theta": theta, "seconds": ours_seconds,
                 "evaluations": evaluations},
        "sklearn": {"lml": float(model.log_marginal_likelihood_value_),
                    "rmse": rmse(model.predict(x_test)), "theta": sk_theta,
                    "seconds": sklearn_seconds},
        "ours_lml_at_sklearn_theta": ours_at_sk,
        "baseline_rmse": float(np.sqrt(np.mean((mean - y_test) ** 2))),
        "n_train": len(x_train), "n_test": len(x_test),
    }
    print(f"{name}: {x_train.shape[1]} feature(s), {len(x_train)} training / {len(x_test)} test "
          f"patients (predict-the-mean RMSE {result['baseline_rmse']:.1f})")
    for who in ("ours", "sklearn"):
        r = result[who]
        s2, length, n2 = np.exp(r["theta"])
        print(f"  {who:8s} log marginal likelihood {r['lml']:10.4f}  test RMSE {r['rmse']:6.2f}  "
              f"signal var {s2:.4f}  length scale {length:.4f}  noise var {n2:.4f}  "
              f"({r['seconds']:.2f} s)")
    print(f"  ours at scikit-learn's hyperparameters: {ours_at_sk:.6f} "
          f"(scikit-learn: {result['sklearn']['lml']:.6f})")
    return result


def plot_posterior(theta, x_train, y_train, x_test, y_test, sk_model_theta, path: Path) -> Path:
    plt = pyplot()
    mean, scale = float(y_train.mean()), float(y_train.std())
    y = (y_train - mean) / scale
    grid = np.linspace(min(x_train.min(), x_test.min()) - 0.3,
                       max(x_train.max(), x_test.max()) + 0.3, 300)[:, None]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter(x_train[:, 0], y_train, s=8, alpha=0.5, label="training patients")
    ax.scatter(x_test[:, 0], y_test, s=10, marker="x", color="k", alpha=0.7, label="test")
    for label, th, colour in (("ours", theta, "C3"), ("scikit-learn", sk_model_theta, "C2")):
        mu, sd = predict(th, x_train, y, grid)
        ax.plot(grid[:, 0], mu * scale + mean, color=colour, label=f"posterior mean ({label})",
                linestyle="-" if label == "ours" else "--")
        if label == "ours":
            ax.fill_between(grid[:, 0], (mu - 2 * sd) * scale + mean,
                            (mu + 2 * sd) * scale + mean, color=colour, alpha=0.15,
                            label="±2 sd of a new observation (ours)")
    ax.set_xlabel("body-mass index (standardised)")
    ax.set_ylabel("disease progression score")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def standardised(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mean, std = train.mean(axis=0), train.std(axis=0)
    return [(x - mean) / std for x in (train, *others)]


def main(argv=None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    x, y = datasets.diabetes()
    x, y = x.astype(np.float64), y.astype(np.float64)
    (x_train, y_train), (x_test, y_test) = datasets.split(x, y, test_fraction=0.2, rng=args.seed)
    max_iterations = None  # as many as L-BFGS wants (both fits converge)
    if args.quick:  # a smoke run: 100 training patients, 10 iterations
        x_train, y_train, max_iterations = x_train[:100], y_train[:100], 10
    results = {}
    bmi_train, bmi_test = standardised(x_train[:, [BMI]], x_test[:, [BMI]])
    results["bmi"] = run_problem("bmi", bmi_train, y_train, bmi_test, y_test, max_iterations)
    all_train, all_test = standardised(x_train, x_test)
    results["all"] = run_problem("all", all_train, y_train, all_test, y_test, max_iterations)
    path = plot_posterior(results["bmi"]["ours"]["theta"], bmi_train, y_train, bmi_test, y_test,
                          results["bmi"]["sklearn"]["theta"], args.out / "gp_posterior.png")
    report_written(path)
    return results


if __name__ == "__main__":
    main()
