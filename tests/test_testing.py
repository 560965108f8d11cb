"""gd_torch.testing: the assertions a user's own test suite calls."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import gd_torch

#: pytester runs a user's test file in this process (a pytest of its own: its own config, rootdir,
#: modules and capture), without a second Python start and import of gd_torch and torch
pytest_plugins = ("pytester",)

#: a user's test file with one failing assertion of each kind
FAILING_TESTS = textwrap.dedent(
    """
    import numpy as np
    import gd_torch
    from gd_torch.testing import assert_function_gradient_close, assert_gradient_close

    def test_one_neuron():
        X, y = gd_torch.tutorial_data()
        W = gd_torch.init_weights(3, seed=0)
        assert_gradient_close(lambda W, X, y: X.T @ (1 / (1 + np.exp(-X @ W)) - y), W, X, y)

    def test_any_function():
        assert_function_gradient_close(lambda x: float(np.sum(x**3)), np.array([1.0, 2.0]), lambda x: 2 * x)
    """
)


def test_a_failing_assertion_shows_the_callers_line_not_the_librarys_source(pytester: pytest.Pytester):
    pytester.makepyfile(test_user=FAILING_TESTS)
    run = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", "-W", "error", "test_user.py")
    out = run.stdout.str() + run.stderr.str()
    assert "2 failed" in out, out
    assert "AssertionError: gradient check failed" in out, out
    # the user's own calls are shown; none of gd_torch's files or lines of source
    assert "assert_gradient_close(lambda W, X, y" in out and "assert_function_gradient_close(lambda x" in out, out
    library = Path(gd_torch.__file__).parent
    assert str(library) not in out, out
    assert "report = check" not in out and "raise AssertionError" not in out, out
