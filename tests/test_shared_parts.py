"""The pieces the split modules share: fit's keywords taken from a command's flags, the candidate
table of gd_torch.diagnose, and one ledger verdict for the one-neuron and the two-layer explain."""

from __future__ import annotations

import argparse
import inspect

import numpy as np
import pytest

import gd_torch
from gd_torch import GdTorchError
from gd_torch.cli.app import build_parser
from gd_torch.cli.commands._common import fit_options
from gd_torch.model.forward import resolve
from gd_torch.model.losses import LOSSES
from gd_torch.teach.ledger import Explanation
from gd_torch.teach.mlp import MLPExplanation
from gd_torch.teach.records import Ledger, Witnessed
from gd_torch.verdict.candidates import TABLE, candidates

#: fit's parameters that are not options of a run
NOT_OPTIONS = {"X", "y", "callback"}


def parsed(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_train_passes_every_option_of_fit_as_typed():
    args = parsed("train", "--method", "autograd", "--loss", "bce", "--alpha", "0.5", "--epochs", "7",
                  "--batch-size", "5", "--tol", "0.25", "--patience", "3", "--init", "normal", "--seed", "9")  # fmt: skip
    options = fit_options(args)
    assert set(options) == set(inspect.signature(gd_torch.fit).parameters) - NOT_OPTIONS
    assert options == {
        "method": "autograd", "loss": "bce", "activation": "sigmoid", "alpha": 0.5, "epochs": 7, "batch_size": 5,
        "tol": 0.25, "patience": 3, "init": "normal", "seed": 9, "device": "cpu",
    }  # fmt: skip


def test_landscape_passes_only_the_options_it_has_flags_for():
    # the others (batch size, init, device, ...) keep fit's defaults, as before
    args = parsed("landscape", "--method", "analytic", "--alpha", "0.1", "--epochs", "4", "--seed", "2")
    assert fit_options(args) == {
        "method": "analytic", "loss": "sse", "activation": "sigmoid", "alpha": 0.1, "epochs": 4, "seed": 2
    }  # fmt: skip


def test_candidate_keys_are_unique_and_one_of_the_1_over_n_rows_is_listed_per_reduction():
    assert len({r.key for r in TABLE}) == len(TABLE)
    y = np.array([0.0, 1.0, 1.0])
    for name, lo in LOSSES.items():
        lo_, act = resolve(name, "sigmoid")
        keys = [c.key for c in candidates(lo_, act, y)]
        wanted, absent = ("no-1/N", "extra-1/N") if lo.reduction == "mean" else ("extra-1/N", "no-1/N")
        assert wanted in keys and absent not in keys, (name, keys)
        assert keys[0] == "exact" and keys[-1] == "unpaired"


def test_candidate_descriptions_name_the_loss_and_the_tutorial_formula_by_activation():
    y = np.array([0.0, 1.0])
    by_key = {c.key: c for c in candidates(*resolve("mse", "tanh"), y)}
    assert by_key["exact"].description == "the exact gradient of mse"
    assert by_key["mean-bce"].description == "the tutorial's formula (with the sigmoid it is the mean-BCE gradient)"
    by_key = {c.key: c for c in candidates(*resolve("sse", "sigmoid"), y)}
    assert by_key["mean-bce"].description == "the mean-BCE gradient (the tutorial's formula)"
    assert "{" not in "".join(c.description for c in by_key.values())


def test_candidate_vectors_are_their_formulas():
    # d(z, a) of a few rows against the formula written out: sse 2 (a - y) a (1 - a), mean-bce (a - y) / N
    z = np.array([-1.0, 0.5, 2.0])
    a = 1 / (1 + np.exp(-z))
    y = np.array([0.0, 1.0, 1.0])
    by_key = {c.key: c for c in candidates(*resolve("sse", "sigmoid"), y)}
    np.testing.assert_allclose(by_key["sse"].d(z, a), 2 * (a - y) * a * (1 - a), rtol=1e-15)
    np.testing.assert_allclose(by_key["mean-bce"].d(z, a), (a - y) / 3, rtol=1e-15)
    np.testing.assert_allclose(by_key["sign"].d(z, a), -by_key["exact"].d(z, a), rtol=0)
    assert by_key["unpaired"].paired is False


def test_both_ledgers_share_one_verdict_and_one_lookup():
    assert issubclass(Explanation, Ledger) and issubclass(MLPExplanation, Ledger)
    X, y = gd_torch.tutorial_data(30, 2, seed=1)
    e = gd_torch.explain(np.full(3, 0.1), X, y)
    assert e.ok and all(isinstance(s, Witnessed) and s.ok for s in e.stages)
    assert e.stage("z").name == "z"
    with pytest.raises(GdTorchError, match=r"^name must be one of 'L', 'e', 'a', 'z', 'W'; got 'q'$"):
        e.stage("q")
