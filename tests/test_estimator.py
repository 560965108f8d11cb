"""GDClassifier: scikit-learn's own estimator checks, and the classifier's contract."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, make_blobs
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks

from gd_torch import GDClassifier, GdTorchError, add_bias, fit

#: checks expected to fail, with the reason: none (scikit-learn 1.9.1); kept for the mechanism
EXPECTED_FAILED: dict[str, str] = {}

#: checks that scikit-learn itself skips in this environment, and why (they are not failures)
SKIPPED_HERE: dict[str, str] = {
    "check_array_api_input": "needs SCIPY_ARRAY_API=1 and an array-API namespace; GDClassifier computes in numpy only",
    "check_classifier_data_not_an_array": "needs pandas, which is not a dependency of gd_torch",
}


@parametrize_with_checks([GDClassifier()], expected_failed_checks=lambda est: EXPECTED_FAILED)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_only_the_listed_checks_are_skipped():
    results = check_estimator(GDClassifier(), on_skip=None, on_fail=None, expected_failed_checks=EXPECTED_FAILED)
    not_passed = {r["check_name"]: r["status"] for r in results if r["status"] != "passed"}
    assert set(not_passed) <= set(SKIPPED_HERE), not_passed
    assert set(not_passed.values()) <= {"skipped"}
    assert sum(r["status"] == "passed" for r in results) >= 50


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=120, centers=2, cluster_std=1.0, random_state=4)
    return StandardScaler().fit_transform(X), y


def test_matches_fit_with_the_bias_added(blobs):
    X, y = blobs
    clf = GDClassifier(random_state=3, epochs=40).fit(X, y)
    r = fit(add_bias(X), (y == 1).astype(float), seed=3, epochs=40)
    np.testing.assert_array_equal(clf.intercept_, r.weights[:1])
    np.testing.assert_array_equal(clf.coef_, r.weights[None, 1:])
    np.testing.assert_array_equal(clf.loss_history_, r.loss_history)
    assert clf.coef_.shape == (1, 2) and clf.intercept_.shape == (1,)
    assert clf.n_features_in_ == 2 and clf.n_epochs_ == 40 and clf.stop_reason_ == "epochs"


def test_any_two_labels(blobs):
    X, y = blobs
    names = np.array(["cat", "dog"])[y]
    clf = GDClassifier(random_state=0).fit(X, names)
    assert list(clf.classes_) == ["cat", "dog"]
    pred = clf.predict(X)
    assert set(pred) <= {"cat", "dog"}
    assert clf.score(X, names) >= 0.95
    # the second class is the neuron's label 1: where decision_function >= 0
    np.testing.assert_array_equal(pred == "dog", clf.decision_function(X) >= 0)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=4 * np.finfo(float).eps)
    np.testing.assert_array_equal(proba[:, 1] >= 0.5, pred == "dog")


def test_three_classes_are_refused(blobs):
    X, y = blobs
    y3 = y.copy()
    y3[:5] = 2
    with pytest.raises(GdTorchError, match="Only binary classification is supported"):
        GDClassifier().fit(X, y3)


def test_predict_proba_only_with_the_sigmoid(blobs):
    X, y = blobs
    assert hasattr(GDClassifier(), "predict_proba")
    clf = GDClassifier(activation="tanh", loss="mse", alpha=0.1, init="zeros").fit(X, y)
    assert not hasattr(clf, "predict_proba")
    assert clf.score(X, y) >= 0.95


def test_hyper_parameters_are_stored_unchanged_and_checked_in_fit(blobs):
    X, y = blobs
    clf = GDClassifier(alpha=-1.0, epochs=0)  # stored as given, as scikit-learn expects
    assert clf.get_params()["alpha"] == -1.0
    with pytest.raises(GdTorchError, match=r"alpha must be a finite number > 0 \(the learning rate\); got -1.0"):
        clf.fit(X, y)
    clf.set_params(alpha=0.05, epochs=10)
    assert clone(clf).get_params()["epochs"] == 10
    assert clf.fit(X, y) is clf


def test_defaults_are_fits_and_every_hyper_parameter_reaches_it(blobs, monkeypatch):
    # scikit-learn wants __init__'s keywords spelt out: they must stay fit's, default for default
    init = inspect.signature(GDClassifier).parameters
    of_fit = inspect.signature(fit).parameters
    names = {"seed" if k == "random_state" else k for k in init}
    assert names <= set(of_fit)
    for k, p in init.items():
        assert p.default == of_fit["seed" if k == "random_state" else k].default, k
    seen = {}
    monkeypatch.setattr("gd_torch.train.estimator.fit", lambda X, y, **kw: seen.update(kw) or fit(X, y, **kw))
    X, y = blobs
    GDClassifier(method="numeric", alpha=0.05, epochs=3, batch_size=4, patience=2, init="zeros", random_state=5).fit(
        X, y
    )
    assert seen == {
        "method": "numeric",
        "loss": "sse",
        "activation": "sigmoid",
        "alpha": 0.05,
        "epochs": 3,
        "batch_size": 4,
        "tol": None,
        "patience": 2,
        "init": "zeros",
        "seed": 5,
        "device": "cpu",
    }


def test_random_state_instance_is_used(blobs):
    X, y = blobs
    a = GDClassifier(random_state=np.random.RandomState(0)).fit(X, y)
    b = GDClassifier(random_state=np.random.RandomState(0)).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)


def test_pipeline_and_cross_val_score_on_breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), GDClassifier(loss="bce", alpha=0.5, epochs=100, random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,)
    assert scores.mean() >= 0.93


@pytest.mark.parametrize("bad", [-1, True])
def test_bad_random_state_is_named(blobs, bad):
    X, y = blobs
    with pytest.raises(GdTorchError, match="random_state must be None, a non-negative integer or a numpy RandomState"):
        GDClassifier(random_state=bad).fit(X, y)
