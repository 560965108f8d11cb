"""Activations a = f(z): the functions, their derivatives written by hand, and the registry.

A user's own activation is an :class:`Activation` passed wherever a name is accepted; the
built-ins are defined through the same constructor.

Everything here is plain numpy and works on real arrays and, for the complex-step
derivative, on complex ones (every formula is analytic: no abs, no clipping on the
smooth paths).  Arrays of pre-activations may be 1-D (one weight vector) or 2-D of
shape (n_samples, k) (k weight vectors at once); y broadcasts against the first axis.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import special

from .._errors import bad_value
from .parts import check_part

Array = np.ndarray

#: the one threshold of the predicted label: 1 where the activation a >= LABEL_THRESHOLD, else 0
LABEL_THRESHOLD = 0.5
#: the default of Activation.z_half: find z* by bisection on the label's own rule
SOLVE: Literal["solve"] = "solve"
#: where the bisection looks for z*: |z| <= Z_SEARCH
Z_SEARCH = 1e4
#: a = f(z)'s rounding, in units of u |a|, assumed for an Activation that does not declare its
#: ``rounding``: two roundings' worth, above every built-in's measured one (at most 1.12 u |a|)
DEFAULT_ROUNDING = 2.0


def predicts_one(a: Array) -> Array:
    """The label rule, elementwise: True where a >= LABEL_THRESHOLD (0.5), the tutorial's threshold."""
    return np.asarray(a) >= LABEL_THRESHOLD


# ---- activations -----------------------------------------------------------------


def sigmoid(z: Array) -> Array:
    r"""Logistic sigmoid :math:`\sigma(z) = 1 / (1 + e^{-z})`, elementwise.

    Stable for every finite z: no overflow warning and no NaN for |z| up to 1e6 and
    beyond (it saturates to exactly 0 or 1).  Real input uses ``scipy.special.expit``;
    complex input (complex-step derivatives) evaluates exp only of the non-positive
    real part.
    """
    z = np.asarray(z)
    if not np.iscomplexobj(z):
        return special.expit(z)
    out = np.empty_like(z)
    pos = z.real >= 0
    e = np.exp(-z[pos])
    out[pos] = 1.0 / (1.0 + e)
    e = np.exp(z[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def tanh(z: Array) -> Array:
    """Hyperbolic tangent, elementwise (numpy's, stable for real and complex z)."""
    return np.tanh(z)


def relu(z: Array) -> Array:
    """max(z, 0), elementwise.  Not differentiable at 0; its derivative there is taken as 0 (as torch does)."""
    return np.maximum(z, 0) if not np.iscomplexobj(z) else np.where(np.asarray(z).real > 0, z, 0)


def identity(z: Array) -> Array:
    """a = z."""
    return np.asarray(z)


def softplus(z: Array) -> Array:
    """log(1 + e^z), stable: e is only raised to non-positive real parts."""
    z = np.asarray(z)
    if not np.iscomplexobj(z):
        return np.logaddexp(0.0, z)
    out = np.empty_like(z)
    pos = z.real >= 0
    out[pos] = z[pos] + np.log1p(np.exp(-z[pos]))
    out[~pos] = np.log1p(np.exp(z[~pos]))
    return out


@dataclass(frozen=True)
class Activation:
    """One activation: the function, its derivative written by hand, and their formulas.

    Pass one wherever an activation name is accepted (``objective``, ``gradient``, ``check``,
    ``fit``, ``GDClassifier``, ...)::

        softsign = gd_torch.Activation(
            "softsign", f=lambda z: z / (1 + abs(z)), df=lambda z, a: 1 / (1 + abs(z)) ** 2,
            formula="a = z / (1 + |z|)", dformula="da/dz = 1 / (1 + |z|)^2", smooth=False,
            torch_f=lambda z: z / (1 + z.abs()))

    ``f(z)`` and ``df(z, a)`` work elementwise on numpy arrays of shape (n,) or (n, k) (and on
    complex ones if ``smooth`` is True and the complex step is to be used; a user's get read-only
    arrays and each output is checked: of z's shape, real for real z, finite where z is, by
    gd_torch.model.parts.checked); ``torch_f`` is f on
    torch tensors, needed by ``method='autograd'`` only.  ``df_abs(z, a)`` is the size of df's
    pieces before they cancel, for the rounding-error model: the default, |df| + 1, charges
    one unit of rounding on top of the derivative's size (right for derivatives formed as
    1 - something, as the sigmoid's and tanh's are; conservative otherwise).

    For the rounding-error model (gd_torch.precision.rounding), a = f(z) as computed errs by
    e_a = ``rounding`` u |a| (u the dtype's unit roundoff): declare the largest relative error
    measured for your f (the sigmoid's is 1.5, tanh's 0.75, 0 for an f that returns z or 0
    exactly).  Not declared (None), :data:`DEFAULT_ROUNDING` = 2 is assumed, and the Activation's
    ``repr`` and :attr:`assumed` say so; declare it when f may err by more (a cancellation inside
    f), or a right gradient may be judged wrong.  ``limit_distance(z)`` = |limit - f(z)|,
    computed without cancellation, for an f that rounds to a finite limit as it saturates (the
    sigmoid to 0 and 1): a's error is then also at most C_SAT (16) times that distance.  Not
    declared (None), no such bound is taken: e_a = rounding u |a| everywhere, the larger error.

    ``z_half`` is z*, where the predicted label flips (f(z*) = 0.5; label 1 where
    a = f(z) >= 0.5, :func:`predicts_one`): a float where it has a closed form, None where f
    never reaches 0.5, or ``"solve"`` (the default) to find it by bisection on the label rule
    itself over |z| <= Z_SEARCH.  For one neuron the decision boundary is the hyperplane
    X W = z*; :attr:`z_halves` lists every such z (several for an f that crosses 0.5 more than once).
    """

    name: str
    f: Callable[[Array], Array]
    #: f'(z), given z and a = f(z) (the sigmoid's and tanh's are cheapest from a)
    df: Callable[[Array, Array], Array]
    formula: str
    dformula: str
    #: differentiable everywhere (the complex step needs this)
    smooth: bool = True
    #: |pieces| of df before cancellation, for the rounding-error model (see errormodel.py)
    df_abs: Callable[[Array, Array], Array] | None = None
    #: points where the derivative does not exist
    kinks: tuple[float, ...] = ()
    #: the same f on torch tensors, for autograd (None: autograd cannot differentiate this part)
    torch_f: Callable[[Any], Any] | None = None
    #: z* with f(z*) = 0.5, where the label flips: a float, None (f never reaches 0.5) or "solve"
    z_half: float | None | Literal["solve"] = SOLVE
    #: f(z)'s rounding in units of u |a| (None: not declared, DEFAULT_ROUNDING is assumed)
    rounding: float | None = None
    #: |limit - f(z)| without cancellation, for an f that rounds to a finite limit (None: no such limit)
    limit_distance: Callable[[Array], Array] | None = None

    def __post_init__(self) -> None:
        check_part(self, ("f", "df"), ("df_abs", "torch_f", "limit_distance"), ("formula", "dformula"))
        if not _threshold_ok(self.z_half):
            raise bad_value("Activation.z_half", self.z_half, 'a finite float, None (f never reaches 0.5) or "solve"')
        if not _rounding_ok(self.rounding):
            raise bad_value("Activation.rounding", self.rounding, "None or a finite number >= 0 (units of u |a|)")
        if self.df_abs is None:
            object.__setattr__(self, "df_abs", lambda z, a: np.abs(self.df(z, a)) + 1)

    @property
    def rounding_used(self) -> float:
        """e_a / (u |a|) as the error model takes it: the declared ``rounding``, or DEFAULT_ROUNDING."""
        return DEFAULT_ROUNDING if self.rounding is None else float(self.rounding)

    @property
    def assumed(self) -> tuple[str, ...]:
        """The rounding constants not declared, for which a default is assumed: ('rounding',) or ()."""
        return ("rounding",) if self.rounding is None else ()

    def __repr__(self) -> str:
        rounding = f"{self.rounding_used:g}" + (" (assumed: DEFAULT_ROUNDING)" if self.assumed else "")
        limit = "declared" if self.limit_distance is not None else "None"
        return f"Activation({self.name!r}, {self.formula!r}, rounding={rounding}, limit_distance={limit})"

    @functools.cached_property
    def z_halves(self) -> tuple[float, ...]:
        """Every z where the label rule f(z) >= 0.5 changes value, ascending: (z*,) for a
        monotone f that reaches 0.5, () for one that never does (within |z| <= Z_SEARCH)."""
        if self.z_half != SOLVE:
            return () if self.z_half is None else (float(self.z_half),)
        return _label_flips(self.f)

    @property
    def threshold(self) -> float | None:
        """z* where the label flips, when there is exactly one such z; None otherwise
        (never: f stays below 0.5; several: see :attr:`z_halves`)."""
        return self.z_halves[0] if len(self.z_halves) == 1 else None


def _threshold_ok(z: object) -> bool:
    # a declared z*: a finite real number (not a bool), None, or SOLVE
    real = isinstance(z, int | float) and not isinstance(z, bool)
    return z is None or (isinstance(z, str) and z == SOLVE) or (real and math.isfinite(z))


def _rounding_ok(r: object) -> bool:
    # a declared rounding: a finite real number >= 0 (not a bool), or None
    real = isinstance(r, int | float) and not isinstance(r, bool)
    return r is None or (real and math.isfinite(r) and r >= 0)


def _label_flips(f: Callable[[Array], Array]) -> tuple[float, ...]:
    # brackets of the label rule on a grid symmetric in z (denser near 0), then bisection on the
    # rule itself to the last float: the z where predicts_one(f(z)) changes, as prediction sees it
    r = np.geomspace(1e-6, Z_SEARCH, 200)
    grid = np.concatenate([-r[::-1], [0.0], r])
    with np.errstate(all="ignore"):
        ones = predicts_one(f(grid))
    flips = np.flatnonzero(ones[1:] != ones[:-1])
    return tuple(_bisect(f, float(grid[i]), float(grid[i + 1])) for i in flips)


def _bisect(f: Callable[[Array], Array], lo: float, hi: float) -> float:
    # lo and hi give different labels; halve until they are adjacent floats; return hi's side
    side = bool(predicts_one(f(np.array([lo])))[0])
    with np.errstate(all="ignore"):
        while True:
            mid = 0.5 * (lo + hi)
            if mid in (lo, hi):
                return hi
            if bool(predicts_one(f(np.array([mid])))[0]) == side:
                lo = mid
            else:
                hi = mid


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation(
            "sigmoid",
            sigmoid,
            lambda z, a: a * (1 - a),
            "a = 1 / (1 + exp(-z))",
            "da/dz = a (1 - a)",
            True,
            df_abs=lambda z, a: a * (1 - a) + 1,
            torch_f=lambda z: z.sigmoid(),
            z_half=0.0,
            # scipy's and torch's err by up to 1.12 u |a| against 200-bit values, z in [-45, 45]
            rounding=1.5,
            limit_distance=lambda z: special.expit(-np.abs(z)),  # 1 - sigmoid(|z|) = sigmoid(-|z|)
        ),
        Activation(
            "tanh",
            tanh,
            lambda z, a: 1 - a * a,
            "a = tanh(z)",
            "da/dz = 1 - a^2",
            True,
            df_abs=lambda z, a: 1 + a * a,
            torch_f=lambda z: z.tanh(),
            z_half=math.atanh(0.5),
            rounding=0.75,  # numpy's and torch's err by up to 0.49 u |a|
            limit_distance=lambda z: 2 * special.expit(-2 * np.abs(z)),  # 1 - tanh(|z|) = 2 / (1 + e^(2|z|))
        ),
        Activation(
            "relu",
            relu,
            lambda z, a: (np.asarray(z).real > 0).astype(np.real(a).dtype),
            "a = max(z, 0)",
            "da/dz = 1 if z > 0 else 0 (undefined at z = 0; 0 is used, as torch does)",
            False,
            df_abs=lambda z, a: (z > 0).astype(a.dtype),
            kinks=(0.0,),
            torch_f=lambda z: z.relu(),
            z_half=0.5,
            rounding=0.0,  # returns z or 0 exactly
        ),
        Activation(
            "identity",
            identity,
            lambda z, a: np.ones_like(np.real(a)),
            "a = z",
            "da/dz = 1",
            True,
            df_abs=lambda z, a: np.ones_like(np.real(a)),
            torch_f=lambda z: z,
            z_half=0.5,
            rounding=0.0,  # returns z exactly
        ),
        # defined like a user's own: no field beyond the constructor's defaults (rounding assumed)
        Activation(
            "softplus",
            softplus,
            lambda z, a: sigmoid(z),
            "a = log(1 + exp(z))",
            "da/dz = 1 / (1 + exp(-z))",
            torch_f=lambda z: z.logaddexp(z.new_zeros(())),
        ),
    )
}
