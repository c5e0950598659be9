"""End to end: the Gaussian-process example's --quick run fits the kernel hyperparameters by the
exact gradient of the log marginal likelihood and matches scikit-learn's fit."""

import numpy as np

from examples import gaussian_process as gp

PNG = b"\x89PNG\r\n\x1a\n"


def test_the_likelihood_gradient_is_exact():
    """Our gradient of log p(y | theta) (Cholesky, triangular solves, log det) against central
    differences of a plain-numpy likelihood."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=30)
    distances = gp.squared_distances(x, x)

    def numpy_lml(theta):
        s2, length, n2 = np.exp(theta)
        k = s2 * np.exp(-distances / (2 * length ** 2)) + n2 * np.eye(30)
        sign, logdet = np.linalg.slogdet(k)
        return -0.5 * y @ np.linalg.solve(k, y) - 0.5 * logdet - 15 * np.log(2 * np.pi)

    theta = np.array([0.3, -0.2, -1.0])
    value, gradient = gp.value_and_gradient(theta, distances, y)
    np.testing.assert_allclose(-value, numpy_lml(theta), rtol=1e-12)
    numeric = [(numpy_lml(theta + e) - numpy_lml(theta - e)) / 2e-6 for e in np.eye(3) * 1e-6]
    np.testing.assert_allclose(-gradient, numeric, rtol=1e-6)


def test_quick_run_matches_scikit_learn(tmp_path, capsys):
    results = gp.main(["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    for name in ("bmi", "all"):
        r = results[name]
        # the same likelihood: ours at scikit-learn's hyperparameters is scikit-learn's value
        np.testing.assert_allclose(r["ours_lml_at_sklearn_theta"], r["sklearn"]["lml"],
                                   rtol=1e-10)
        assert r["ours"]["lml"] >= r["sklearn"]["lml"] - 1e-2  # as good a maximum
        assert abs(r["ours"]["rmse"] - r["sklearn"]["rmse"]) < 0.01 * r["sklearn"]["rmse"]
        assert r["ours"]["rmse"] < 0.9 * r["baseline_rmse"]
        assert f"log marginal likelihood {r['ours']['lml']:10.4f}" in out
    picture = tmp_path / "gp_posterior.png"
    assert picture.read_bytes().startswith(PNG)
    assert f"wrote {picture.resolve()}" in out
