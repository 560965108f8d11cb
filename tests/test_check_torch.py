"""gd_torch.check_torch: custom autograd Functions checked in their own dtype against a float64 truth.

The mutation suite of tests/torch_functions.py (13 Functions, 28 realistic bugs): no false alarm
for a correct backward in any dtype at seed 1; every bug whose float64 effect is more than 10x
the dtype's measured rounding caught in float32, bfloat16 and float16, yours the odd one out
(float64 and more seeds, with gradcheck's and assert_close's rates beside:
benchmarks/torch_mutation.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from cli_run import main_within
from torch_effect import DETECTABLE, effect
from torch_functions import CASES, DTYPES, floating

import gd_torch
from gd_torch.testing import assert_torch_gradient_close
from gd_torch.verdict.engine import Terms, pair

BUGS = [(case, bug) for case in CASES for bug in case.bugs]


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # tiny torch functions: a second thread only costs wake-ups
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("dtype", DTYPES, ids=_name)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_correct_backward_passes_in_every_dtype(case, dtype):
    report = gd_torch.check_torch(case.function.apply, *case.inputs(dtype, "cpu", 1), reference=case.reference)
    assert report.ok, str(report)
    assert report.dtype == _name(dtype) and report.mode == "reverse"


@pytest.mark.parametrize("dtype", DTYPES[1:], ids=_name)  # float64: benchmarks/torch_mutation.py
@pytest.mark.parametrize(("case", "bug"), BUGS, ids=[f"{c.name}-{b.name}" for c, b in BUGS])
def test_a_bug_larger_than_ten_times_the_rounding_is_caught(case, bug, dtype):
    if effect(case, bug.function, dtype, 1) <= DETECTABLE:
        pytest.skip(f"{bug.name} moves the gradient by at most {DETECTABLE:g}x {_name(dtype)}'s rounding")
    # one cotangent: a bug shows along any (the correct backwards above run with the defaults)
    x = case.inputs(dtype, "cpu", 1)
    report = gd_torch.check_torch(bug.function.apply, *x, reference=case.reference, cotangents=1)
    assert not report.ok and report.odd_one_out == "yours", str(report)
    line = report.summary()
    assert line.startswith("FAIL: yours disagrees with reference, numeric, which agree with each other"), line
    assert "yours vs reference: wrong in" in line and f"{_name(dtype)} rounding of the reference" in line, line


def test_the_failing_report_names_the_element_both_values_and_where_the_tolerance_came_from():
    case = CASES[0]  # layer_norm, its mean term dropped
    report = gd_torch.check_torch(
        case.bugs[0].function.apply, *case.inputs(torch.float32, "cpu", 1), reference=case.reference
    )
    worst = next(p for p in report.pairs if p.a == "yours" and p.b == "reference")
    text = report.summary()
    assert text.startswith("FAIL: yours disagrees with reference, numeric, which agree with each other"), text
    assert f"yours={worst.value_a:.9g}, reference={worst.value_b:.9g} at inputs[0][" in text, text
    assert "float32 rounding of the reference over inputs[0], measured: " in text, text
    # the tolerance is K times the measured rounding (or its floor): |diff| / tol is the pair's ratio
    assert worst.ratio > 10 and worst.tol > 0


def test_a_wrong_reference_is_reported_not_trusted():
    case = CASES[2]  # softmax; its reference replaced by a function with the wrong gradient
    x = case.inputs(torch.float32, "cpu", 1)

    def wrong_reference(t):
        return torch.softmax(t, -1) + 0.1 * (t - t.detach())  # same values, gradient off by 0.1 I

    report = gd_torch.check_torch(case.function.apply, *x, reference=wrong_reference)
    assert not report.ok and report.odd_one_out == "reference", str(report)


def test_without_a_reference_fn_runs_in_float64_against_finite_differences():
    case = CASES[0]
    good = gd_torch.check_torch(case.function.apply, *case.inputs(torch.float32, "cpu", 1))
    assert good.ok and list(good.gradients) == ["yours", "numeric"], str(good)
    assert "the float32 run itself is not judged" in good.methods["yours"]
    bad = gd_torch.check_torch(case.bugs[0].function.apply, *case.inputs(torch.float32, "cpu", 1))
    assert not bad.ok and bad.summary().startswith("FAIL: yours and numeric disagree"), str(bad)


def test_tuple_outputs_extra_arguments_and_which_inputs_are_differentiated():
    x = torch.randn(4, 3, dtype=torch.float32, requires_grad=True)
    w = torch.randn(3, dtype=torch.float32)  # not requiring grad: not differentiated

    def fn(x, w, power):
        return x * w, (x**power).sum(-1)

    report = gd_torch.check_torch(fn, x, w, 2, reference=fn)
    assert report.ok and [s.name for s in report.arrays] == ["inputs[0]"], str(report)
    # none requires grad: every floating tensor is differentiated
    both = gd_torch.check_torch(fn, x.detach(), w, 2, reference=fn)
    assert [s.name for s in both.arrays] == ["inputs[0]", "inputs[1]"]


def _non_tensor(x):
    return x.detach().sum().item()


def _nan_backward(x):
    return torch.sqrt(x)  # at 0: infinite gradient


@pytest.mark.parametrize(
    ("fn", "inputs", "kwargs", "param"),
    [
        ("not callable", (torch.ones(2),), {}, "fn"),
        (torch.sin, (torch.ones(2),), {"reference": 3}, "reference"),
        (torch.sin, (torch.ones(2),), {"cotangents": 0}, "cotangents"),
        (torch.sin, (torch.ones(2),), {"directions": 1.5}, "directions"),
        (torch.sin, (torch.ones(2, dtype=torch.int64), 3), {}, "inputs"),
        (torch.sin, (torch.ones(2, device="meta"),), {}, "inputs[0]"),
        (_non_tensor, (torch.ones(2),), {}, "fn"),
        (_nan_backward, (torch.zeros(2),), {"reference": torch.sin}, "fn"),
        (torch.sin, (torch.ones(2),), {"reference": lambda x: torch.sin(x).sum()}, "reference"),
    ],
)
def test_bad_input_is_refused_naming_the_parameter(fn, inputs, kwargs, param):
    with pytest.raises(gd_torch.GdTorchError) as err:
        gd_torch.check_torch(fn, *inputs, **kwargs)
    assert err.value.param == param, str(err.value)
    assert str(err.value).startswith(param), str(err.value)


def test_assert_torch_gradient_close_passes_silently_or_says_what_is_wrong():
    case = CASES[1]
    report = assert_torch_gradient_close(
        case.function.apply, *case.inputs(torch.bfloat16, "cpu", 1), reference=case.reference
    )
    assert report.ok
    with pytest.raises(AssertionError, match="torch gradient check failed\nFAIL: yours disagrees"):
        assert_torch_gradient_close(
            case.bugs[0].function.apply, *case.inputs(torch.float32, "cpu", 1), reference=case.reference
        )


def test_the_engine_compares_a_group_norm_wise():
    # entries 0-1 one group (norm 5 > 4 fails though each |diff| <= 4), entry 2 another (agrees)
    terms = Terms(np.array([3.0, 4.0, 1.0]), np.zeros(3), np.array([4.0, 4.0, 2.0]), groups=np.array([0, 0, 1]))
    p = pair("a", "b", terms.values, terms.reference, terms)
    assert p.status == "disagree" and p.worst == 1 and p.ratio == pytest.approx(5 / 4) and p.tol == 4.0
    ok = Terms(terms.values, terms.reference, np.array([5.0, 5.0, 2.0]), groups=np.array([0, 0, 1]))
    assert pair("a", "b", ok.values, ok.reference, ok).status == "agree"
    bad = Terms(np.array([3.0, np.nan, 1.0]), np.zeros(3), np.full(3, 9.0), groups=np.array([0, 0, 1]))
    assert pair("a", "b", bad.values, bad.reference, bad).status == "non-finite"


@pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device: the CUDA path runs the same code on GPU tensors"
)
@pytest.mark.parametrize("dtype", DTYPES, ids=_name)
def test_cuda_inputs_are_checked_on_their_device(dtype):
    case = CASES[0]
    x = case.inputs(dtype, "cuda", 1)
    assert gd_torch.check_torch(case.function.apply, *x, reference=case.reference).ok
    assert not gd_torch.check_torch(case.bugs[0].function.apply, *x, reference=case.reference).ok


def test_floating_helper_agrees_with_which_inputs_are_differentiated():
    case = CASES[4]  # cross_entropy: integer targets pass through, not differentiated
    x = case.inputs(torch.float32, "cpu", 1)
    report = gd_torch.check_torch(case.function.apply, *x, reference=case.reference)
    assert len(report.arrays) == len(floating(x))


pytest_plugins = ("pytester",)

#: a user's test file with a failing torch assertion
FAILING_TORCH_TEST = """
import torch
from gd_torch.testing import assert_torch_gradient_close

class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x  # the factor 2 forgotten

def test_square():
    x = torch.linspace(-1, 1, 8, dtype=torch.float32)
    assert_torch_gradient_close(Square.apply, x, reference=lambda t: t * t)
"""


def test_a_failing_torch_assertion_shows_the_callers_line_not_the_librarys_source(pytester: pytest.Pytester):
    pytester.makepyfile(test_user=FAILING_TORCH_TEST)
    run = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", "-W", "error", "test_user.py")
    out = run.stdout.str() + run.stderr.str()
    assert "1 failed" in out and "AssertionError: torch gradient check failed" in out, out
    assert "assert_torch_gradient_close(Square.apply, x" in out, out
    assert str(Path(gd_torch.__file__).parent) not in out and "raise AssertionError" not in out, out


#: a file for gd-torch check --torch: fn, inputs() and the reference
TORCH_FILE = """
import torch

class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return FACTOR * g * x

square = Square.apply

def inputs():
    return (torch.linspace(-1, 1, 12, dtype=torch.bfloat16),)

def reference(x):
    return x * x
"""


@pytest.mark.parametrize(("factor", "code"), [(2, 0), (1, 1)])
def test_the_command_line_checks_torch_code_exit_0_or_1(tmp_path, capsys, factor, code):
    path = tmp_path / "square.py"
    path.write_text(TORCH_FILE.replace("FACTOR", str(factor)))
    assert main_within(["check", "--torch", f"{path}:square"]) == code
    out = capsys.readouterr().out
    assert out.startswith("check_torch: dtype=bfloat16 mode=reverse"), out
    assert ("OK: " if code == 0 else "FAIL: yours disagrees") in out, out


@pytest.mark.parametrize(
    ("text", "name", "message"),
    [
        ("import torch\n", "square", "it has no 'square'"),
        ("import torch\nsquare = torch.sin\n", "square", "it has no 'inputs'"),
        ("import torch\nsquare = torch.sin\ndef inputs():\n    return [torch.ones(2)]\n", "square", "returns a tuple"),
        (
            "import torch\ndef square(x):\n    raise KeyError(3)\ndef inputs():\n    return (torch.ones(2),)\n",
            "square",
            "KeyError",
        ),
        ("def square(x):\n    return x\ndef inputs():\n    return (3,)\n", "square", "inputs must be"),
    ],
)
def test_the_command_line_refuses_a_bad_torch_file_in_one_line_naming_the_flag(tmp_path, capsys, text, name, message):
    path = tmp_path / "bad.py"
    path.write_text(text)
    assert main_within(["check", "--torch", f"{path}:{name}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gd-torch: error: --torch") and "\n" not in err and message in err, err


class _ScaleWrongGrad(torch.autograd.Function):
    # y = x * s with s a 0-d tensor; the gradient of s is off by 1.5
    @staticmethod
    def forward(ctx, x, s):
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, g):
        x, s = ctx.saved_tensors
        return g * s, (g * x).sum() * 1.5


def test_a_zero_dimensional_input_is_checked_and_named():
    x, s = torch.randn(5, generator=torch.Generator().manual_seed(0)), torch.tensor(2.0)
    report = gd_torch.check_torch(_ScaleWrongGrad.apply, x, s, reference=lambda x, s: x * s)
    assert [a.ok for a in report.arrays] == [True, False], str(report)
    assert "wrong in inputs[1]; yours=" in report.summary() and " at inputs[1] (cotangent 0)" in report.summary()


def _noisy(bug: float):
    # x**2 whose backward adds run-to-run noise of 1e-3 |g| (a nondeterministic kernel's atomics,
    # exaggerated) and, for bug != 0, a wrong term bug * g
    class Noisy(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            exact = 2 * g * x
            return exact * (1 + 1e-3 * torch.randn_like(x)) + bug * g

    return Noisy.apply


def test_a_nondeterministic_backward_has_its_measured_spread_in_the_tolerance():
    x = torch.randn(64, generator=torch.Generator().manual_seed(0))
    report = gd_torch.check_torch(_noisy(0.0), x, reference=lambda t: t * t)
    assert report.ok, str(report)
    # the same noise without the spread in the tolerance is ~1e4 times float32's rounding
    assert max(p.ratio for p in report.pairs) < 1, str(report)
    failing = gd_torch.check_torch(_noisy(0.5), x, reference=lambda t: t * t)
    assert not failing.ok and "yours vs reference: wrong in inputs[0]" in failing.summary(), str(failing)
    assert (
        "6 x the run-to-run spread of fn's backward over inputs[0] (nondeterministic), measured: " in failing.summary()
    )
