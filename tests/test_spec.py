"""The spec in one screen: the tutorial's gradient three ways, and what its update is the gradient of.

The tutorial trains one sigmoid unit, a = 1 / (1 + e^-z) with z = X W, printing the sum of
squared errors L = sum_i (a_i - y_i)^2, with the update W -= alpha X^T (a - y) / N.  By hand
(the chain rule), by torch autograd and by central differences the gradient of L is one vector;
the update is the gradient of the mean cross-entropy instead, not of the loss printed.
Bounds: the error model's rounding estimate (errormodel.build) for the exact ways; for a central
difference D(h), its truncation read off D(2h) plus the noise of L's values over the step.
"""

import numpy as np
import torch

import gd_torch
from gd_torch.model.forward import resolve
from gd_torch.precision import errormodel

X, y = gd_torch.tutorial_data()  # make_blobs: 250 samples, 2 features and a bias column first
W = gd_torch.init_weights(3, seed=42)  # uniform on [0, 1), as the tutorial draws it
N = len(y)
LOSS = {
    "sse": lambda w: np.sum((1 / (1 + np.exp(-X @ w)) - y) ** 2),
    "bce": lambda w: np.mean(np.logaddexp(0, X @ w) - y * (X @ w)),
}


def central(L, h):
    return np.array([(L(W + h * e) - L(W - h * e)) / (2 * h) for e in np.eye(3)])


def bounds(loss):
    model = errormodel.build(W, X, y, *resolve(loss, "sigmoid"))
    h = np.finfo(np.float64).eps ** (1 / 3)
    fd, fd2 = central(LOSS[loss], h), central(LOSS[loss], 2 * h)
    return model.exact, fd, np.abs(fd2 - fd) + 2 * model.f_noise / h + model.exact


def test_the_tutorials_gradient_three_ways():
    a = 1 / (1 + np.exp(-X @ W))
    hand = X.T @ (2 * (a - y) * a * (1 - a))  # dL/da = 2 (a - y), da/dz = a (1 - a), dL/dW = X^T dL/dz
    Wt = torch.tensor(W, requires_grad=True)
    ((torch.sigmoid(torch.tensor(X) @ Wt) - torch.tensor(y)) ** 2).sum().backward()
    exact, fd, fd_err = bounds("sse")
    assert (np.abs(hand - Wt.grad.numpy()) <= 2 * exact).all()  # autograd
    assert (np.abs(hand - fd) <= fd_err).all()  # finite differences
    assert (np.abs(hand - gd_torch.gradient(W, X, y, method="analytic")) <= 2 * exact).all()


def test_the_tutorials_update_is_mean_cross_entropys_gradient_not_sses():
    a = 1 / (1 + np.exp(-X @ W))
    update = X.T @ (a - y) / N
    exact, fd_bce, fd_err = bounds("bce")
    assert (np.abs(update - fd_bce) <= fd_err).all()  # the mean cross-entropy's gradient
    assert (np.abs(update - gd_torch.gradient(W, X, y, loss="bce")) <= 2 * exact).all()
    exact_sse, fd_sse, fd_err_sse = bounds("sse")
    # not sse's (4.6 to 6.3 times as large), nor along it: 10^4 times beyond the bounds
    assert (np.abs(update - fd_sse) > 1e4 * fd_err_sse).all()
    ratio = update / fd_sse
    assert np.ptp(ratio) > 1e4 * np.max(fd_err_sse / np.abs(fd_sse)) * np.max(ratio)
