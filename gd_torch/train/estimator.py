"""GDClassifier: :func:`gd_torch.fit` as a scikit-learn binary classifier."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, check_random_state, validate_data

from .._errors import bad_value
from ..model.activations import LABEL_THRESHOLD, predicts_one
from ..model.forward import add_bias, resolve
from .loop import fit


class GDClassifier(ClassifierMixin, BaseEstimator):
    r"""One neuron a = f(w0 + X w) trained by :func:`gd_torch.fit`, for two classes.

    The bias is handled inside: ``fit`` prepends the column of ones (the tutorial's trick),
    so ``X`` is the plain feature matrix of shape (n_samples, n_features); the learned bias
    is ``intercept_`` and the rest ``coef_``.  Labels may be any two classes; the second of
    the sorted ``classes_`` is the positive one (label 1 of the neuron).

    Scale the features (e.g. ``make_pipeline(StandardScaler(), GDClassifier())``): with the
    default uniform [0, 1) start, large inputs saturate the sigmoid and the exact squared-error
    gradient can vanish before training starts (see ``gd-torch sweep``).

    Parameters
    ----------
    method, loss, activation, alpha, epochs, batch_size, tol, patience, init, device :
        as :func:`gd_torch.fit`; stored unchanged and checked by ``fit``.
    random_state : None, an int, or a numpy RandomState: seeds the initial weights and the
        mini-batch shuffles (``fit``'s ``seed``; a RandomState draws that seed).

    Attributes
    ----------
    coef_ : ndarray of shape (1, n_features)
    intercept_ : ndarray of shape (1,)
    loss_history_ : ndarray of shape (n_epochs_ + 1,), the loss after each epoch (row 0: initial weights)
    n_epochs_ : int, epochs run
    stop_reason_ : str, why training stopped ('epochs', 'tol' or 'patience')
    classes_ : ndarray of shape (2,)
    n_features_in_ : int
    """

    def __init__(
        self,
        *,
        method: str = "analytic",
        loss: str = "sse",
        activation: str = "sigmoid",
        alpha: float = 0.01,
        epochs: int = 100,
        batch_size: int | None = None,
        tol: float | None = None,
        patience: int | None = None,
        init: str = "uniform",
        random_state: Any = None,
        device: str = "cpu",
    ) -> None:
        self.method = method
        self.loss = loss
        self.activation = activation
        self.alpha = alpha
        self.epochs = epochs
        self.batch_size = batch_size
        self.tol = tol
        self.patience = patience
        self.init = init
        self.random_state = random_state
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def fit(self, X: Any, y: Any) -> GDClassifier:
        """Train on X of shape (n_samples, n_features) and y of shape (n_samples,) with two classes."""
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], y_numeric=False)
        check_classification_targets(y)
        classes = np.unique(y)
        if classes.shape[0] != 2:
            raise bad_value(
                "y",
                f"labels with {classes.shape[0]} class(es) {classes.tolist()[:5]}",
                "exactly two classes. Only binary classification is supported (one neuron)",
            )
        params = self.get_params(deep=False)  # fit's keyword arguments, random_state as its seed
        seed = params.pop("random_state")
        if isinstance(seed, bool) or (isinstance(seed, int | np.integer) and seed < 0):
            raise bad_value("random_state", seed, "None, a non-negative integer or a numpy RandomState")
        if seed is not None and not isinstance(seed, int | np.integer):
            seed = int(check_random_state(seed).randint(np.iinfo(np.int32).max))
        result = fit(add_bias(X), (y == classes[1]).astype(X.dtype), seed=seed, **params)
        self.classes_ = classes
        self.intercept_ = result.weights[:1].copy()
        self.coef_ = result.weights[None, 1:].copy()
        self.loss_history_ = np.asarray(result.loss_history).copy()
        self.n_epochs_ = result.epochs_run
        self.stop_reason_ = result.stop_reason
        return self

    def _activation(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        z = X @ self.coef_[0].astype(X.dtype, copy=False) + self.intercept_[0]
        with np.errstate(over="ignore"):
            return resolve(self.loss, self.activation)[1].f(z)

    def decision_function(self, X: Any) -> np.ndarray:
        """a - 0.5 with a = f(w0 + X w), shape (n_samples,): >= 0 predicts classes_[1] (the tutorial's a >= 0.5)."""
        return self._activation(X) - LABEL_THRESHOLD

    def predict(self, X: Any) -> np.ndarray:
        """classes_[1] where the activation a >= 0.5, else classes_[0]; shape (n_samples,)."""
        positive = predicts_one(self._activation(X))  # checks that the estimator is fitted
        return self.classes_[positive.astype(np.intp)]

    def _is_sigmoid(self) -> bool:
        return self.activation == "sigmoid"

    @available_if(_is_sigmoid)
    def predict_proba(self, X: Any) -> np.ndarray:
        """[1 - a, a] with a = sigmoid(w0 + X w), shape (n_samples, 2); only with activation='sigmoid',
        the one activation whose output is a probability."""
        a = self._activation(X)
        return np.column_stack([1 - a, a])
