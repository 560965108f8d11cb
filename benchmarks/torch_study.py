"""How far does a dtype's rounding move a correct gradient, and how far do realistic bugs move it?

    python benchmarks/torch_study.py            # writes benchmarks/results/torch_study.{json,md}

For each case of ``tests/torch_functions.py`` x dtype (float64, float32, bfloat16, float16) x seed
x random cotangent v (drawn in float64, rounded to the dtype), with j over the floating inputs:

* truth t_j: the reference's vjp in float64 on the dtype's inputs upcast (their rounding is not error);
* e_fn = g_fn - t: the Function's vjp run in the dtype (a bug's backward in place of it for the bug rows);
* e_ref = g_ref - t: the reference's vjp run in the same dtype, the dtype's own rounding of a correct
  gradient;  scale_j = max(max|e_ref_j|, eps/2 max|t_j|) (the floor is half an ulp of the largest
  element: float64's e_ref is exactly 0, its reference being the truth);
* the rule's ratio r = max_j max|e_fn_j| / scale_j (and the 2-norm analogue); a check with factor k
  flags when r > k;
* a bug's effect: max_j max|g_bug64_j - t_j| / scale_j with g_bug64 the bug's backward in float64
  (the bug alone, in units of the dtype's rounding);
* torch.autograd.gradcheck (defaults, inputs in the dtype, seed 0) and
  torch.testing.assert_close(g_fn, g_ref) (default tolerances, same dtype) on the same Functions.

The factor k is chosen on the even seeds (calibration) and judged on the odd seeds (held out).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import warnings
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("gd_torch") is None:  # a checkout without an install
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from torch_functions import CASES, DTYPES, TorchCase, vjp  # noqa: E402

from gd_torch.base.files import write_text  # noqa: E402

SEEDS = tuple(range(16))
CALIBRATION = tuple(s for s in SEEDS if s % 2 == 0)
COTANGENTS = 3
GRADCHECK_SEEDS = (0,)
K_GRID = (2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 20.0, 50.0)
#: a bug is "detectable" when its effect exceeds this many times the dtype's rounding (issue 22)
DETECTABLE = 10.0
QUANTILES = (0.5, 0.9, 0.99, 1.0)
OUT = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Row:
    case: str
    bug: str  # "" for the correct backward
    dtype: str
    seed: int
    cotangent: int
    r_max: float  # max_j max|e_fn_j| / scale_j
    r_norm: float  # max_j ||e_fn_j|| / max(||e_ref_j||, eps/2 ||t_j||)
    effect: float  # max_j max|g64_j - t_j| / scale_j (the backward's own math error, in rounding units)
    floor_used: bool  # the eps/2 max|t| floor exceeded max|e_ref| for some input
    assert_close_flags: bool  # assert_close(g_fn, g_ref) raised for some input


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _upcast(inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return tuple(t.detach().double().requires_grad_() if t.is_floating_point() else t for t in inputs)


def _cotangents(out: torch.Tensor, seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(1000 + seed)
    return [torch.randn(out.shape, generator=gen, dtype=torch.float64).to(out.dtype) for _ in range(COTANGENTS)]


def _double(grads: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    return [g.double() for g in grads]


def _closes(a: torch.Tensor, b: torch.Tensor) -> bool:
    try:
        torch.testing.assert_close(a, b)
    except AssertionError:
        return False
    return True


def _row(case, bug, dtype, seed, c, g, g64, ref, ref_raw, g_raw, truth) -> Row:
    half_eps = torch.finfo(dtype).eps / 2
    r_max = r_norm = effect = 0.0
    floor_used = False
    for gj, g64j, rj, tj in zip(g, g64, ref, truth, strict=True):
        ref_max = (rj - tj).abs().max().item()
        scale = max(ref_max, half_eps * tj.abs().max().item())
        floor_used |= scale > ref_max
        norm_scale = max((rj - tj).norm().item(), half_eps * tj.norm().item())
        r_max = max(r_max, (gj - tj).abs().max().item() / scale)
        r_norm = max(r_norm, (gj - tj).norm().item() / norm_scale)
        effect = max(effect, (g64j - tj).abs().max().item() / scale)
    flags = not all(_closes(a, b) for a, b in zip(g_raw, ref_raw, strict=True))
    return Row(case, bug, _name(dtype), seed, c, r_max, r_norm, effect, floor_used, flags)


def _elementwise(g, ref, truth, dtype) -> torch.Tensor:
    # |e_fn_i| / max(rms(e_ref), eps/2 rms(t)) for every element of every input
    half_eps = torch.finfo(dtype).eps / 2
    parts = []
    for gj, rj, tj in zip(g, ref, truth, strict=True):
        scale = max((rj - tj).pow(2).mean().sqrt().item(), half_eps * tj.pow(2).mean().sqrt().item())
        parts.append(((gj - tj).abs() / scale).flatten())
    return torch.cat(parts)


def _measure(case: TorchCase, dtype: torch.dtype, seed: int) -> tuple[list[Row], torch.Tensor]:
    inputs = case.inputs(dtype, "cpu", seed)
    wide = _upcast(inputs)
    variants = [("", case.function), *((b.name, b.function) for b in case.bugs)]
    rows, elements = [], []
    for c, v in enumerate(_cotangents(case.reference(*inputs), seed)):
        truth = _double(vjp(case.reference, wide, v.double()))
        ref_raw = vjp(case.reference, inputs, v)
        ref = _double(ref_raw)
        for bug, fn in variants:
            g_raw = vjp(fn.apply, inputs, v)
            g = _double(g_raw)
            g64 = _double(vjp(fn.apply, wide, v.double()))
            rows.append(_row(case.name, bug, dtype, seed, c, g, g64, ref, ref_raw, g_raw, truth))
            if not bug:
                elements.append(_elementwise(g, ref, truth, dtype))
    return rows, torch.cat(elements)


def _gradcheck(fn, inputs) -> str:
    # "pass", "fail" or "error: <type>"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return "pass" if torch.autograd.gradcheck(fn.apply, inputs, raise_exception=False) else "fail"
        except Exception as exc:  # noqa: BLE001 - what gradcheck does with low precision is the data
            return f"error: {type(exc).__name__}"


def _gradchecks() -> list[dict]:
    out = []
    for case in CASES:
        for dtype in DTYPES:
            for seed in GRADCHECK_SEEDS:
                variants = [("", case.function), *((b.name, b.function) for b in case.bugs)]
                for bug, fn in variants:
                    res = _gradcheck(fn, case.inputs(dtype, "cpu", seed))
                    out.append({"case": case.name, "bug": bug, "dtype": _name(dtype), "seed": seed, "result": res})
    return out


def _quantiles(values: torch.Tensor) -> dict[str, float]:
    values = values.double()
    return (
        {f"q{int(q * 100)}": torch.quantile(values, q).item() for q in QUANTILES}
        if values.numel() <= 16_000_000
        else {}
    )


def _config_max(rows: list[Row], key: str) -> dict:
    # the worst correct-backward ratio per dtype on the calibration seeds
    out = {}
    for dtype in DTYPES:
        vals = [getattr(r, key) for r in rows if not r.bug and r.dtype == _name(dtype) and r.seed in CALIBRATION]
        out[_name(dtype)] = max(vals)
    return out


def _suggest(worst: dict[str, float]) -> dict[str, float]:
    # the smallest grid factor above every calibration ratio, per dtype and for the three low precisions together
    low = max(v for d, v in worst.items() if d != "float64")
    pick = {d: min((k for k in K_GRID if k > v), default=float("inf")) for d, v in worst.items()}
    return {**pick, "low_precision": min((k for k in K_GRID if k > low), default=float("inf"))}


def _rates(rows: list[Row], key: str, k: float, dtype: str) -> dict:
    held = [r for r in rows if r.dtype == dtype and r.seed not in CALIBRATION]
    correct = [r for r in held if not r.bug]
    bugs = [r for r in held if r.bug]
    big = [r for r in bugs if r.effect > DETECTABLE]
    missed_big = [r for r in big if getattr(r, key) <= k]
    return {
        "false_alarms_all_seeds": sum(getattr(r, key) > k for r in rows if r.dtype == dtype and not r.bug),
        "false_alarms": sum(getattr(r, key) > k for r in correct),
        "correct": len(correct),
        "missed_detectable": len(missed_big),
        "detectable": len(big),
        "missed_any": sum(getattr(r, key) <= k for r in bugs),
        "bugs": len(bugs),
        "largest_missed_effect": max((r.effect for r in missed_big), default=0.0),
    }


def _baseline_rates(rows: list[Row], checks: list[dict], dtype: str) -> dict:
    held = [r for r in rows if r.dtype == dtype and r.seed not in CALIBRATION]
    mine = [c for c in checks if c["dtype"] == dtype]
    return {
        "assert_close": {
            "false_alarms": sum(r.assert_close_flags for r in held if not r.bug),
            "correct": sum(not r.bug for r in held),
            "missed_detectable": sum(not r.assert_close_flags for r in held if r.bug and r.effect > DETECTABLE),
            "detectable": sum(bool(r.bug) and r.effect > DETECTABLE for r in held),
            "missed_any": sum(not r.assert_close_flags for r in held if r.bug),
            "bugs": sum(bool(r.bug) for r in held),
        },
        "gradcheck": {
            "false_alarms": sum(c["result"] != "pass" for c in mine if not c["bug"]),
            "correct": sum(not c["bug"] for c in mine),
            "errors": sum(c["result"].startswith("error") for c in mine),
            "missed_any": sum(c["result"] == "pass" for c in mine if c["bug"]),
            "bugs": sum(bool(c["bug"]) for c in mine),
        },
    }


def _per_case(rows: list[Row]) -> list[dict]:
    out = []
    for case in CASES:
        for bug in ["", *(b.name for b in case.bugs)]:
            entry = {"case": case.name, "bug": bug}
            for dtype in DTYPES:
                mine = [r for r in rows if r.case == case.name and r.bug == bug and r.dtype == _name(dtype)]
                key = "r_max_max" if not bug else "effect_min"
                entry[_name(dtype)] = {
                    key: (max(r.r_max for r in mine) if not bug else min(r.effect for r in mine)),
                    "r_max_min": min(r.r_max for r in mine),
                    "assert_close_flagged": sum(r.assert_close_flags for r in mine) / len(mine),
                }
            out.append(entry)
    return out


def study() -> dict:
    torch.manual_seed(0)
    rows: list[Row] = []
    elements: dict[str, list[torch.Tensor]] = {_name(d): [] for d in DTYPES}
    for case in CASES:
        for dtype in DTYPES:
            for seed in SEEDS:
                new, elem = _measure(case, dtype, seed)
                rows.extend(new)
                elements[_name(dtype)].append(elem)
    checks = _gradchecks()
    k_max = _config_max(rows, "r_max")
    k_norm = _config_max(rows, "r_norm")
    dtypes = [_name(d) for d in DTYPES]
    return {
        "setup": {
            "cases": len(CASES),
            "bugs": sum(len(c.bugs) for c in CASES),
            "seeds": list(SEEDS),
            "calibration_seeds": list(CALIBRATION),
            "cotangents": COTANGENTS,
            "detectable_effect": DETECTABLE,
            "torch": torch.__version__,
        },
        "calibration_max_ratio": {"r_max": k_max, "r_norm": k_norm},
        "suggested_k": {key: _suggest(ks) for key, ks in (("r_max", k_max), ("r_norm", k_norm))},
        "elementwise_ratio_quantiles": {d: _quantiles(torch.cat(elements[d])) for d in dtypes},
        "correct_ratio_quantiles": {
            key: {
                d: _quantiles(torch.tensor([getattr(r, key) for r in rows if not r.bug and r.dtype == d]))
                for d in dtypes
            }
            for key in ("r_max", "r_norm")
        },
        "floor_used_fraction": {
            d: sum(r.floor_used for r in rows if r.dtype == d) / sum(r.dtype == d for r in rows) for d in dtypes
        },
        "rule_rates": {
            key: {str(k): {d: _rates(rows, key, k, d) for d in dtypes} for k in K_GRID} for key in ("r_max", "r_norm")
        },
        "baselines": {d: _baseline_rates(rows, checks, d) for d in dtypes},
        "per_case": _per_case(rows),
        "gradcheck": checks,
        "rows": rows,
    }


def _round(value):
    return float(f"{value:.4g}") if isinstance(value, float) else value


def to_json(res: dict) -> str:
    """The results as JSON: summaries indented, then one line per measured row (columns named once)."""
    summary = json.dumps({k: v for k, v in res.items() if k != "rows"}, indent=1)
    columns = [f.name for f in fields(Row)]
    lines = [json.dumps([_round(v) for v in astuple(r)]) for r in res["rows"]]
    return (
        f'{summary[:-2]},\n "row_columns": {json.dumps(columns)},\n "rows": [\n  ' + ",\n  ".join(lines) + "\n ]\n}\n"
    )


def _rate(n: int, of: int) -> str:
    return f"{n}/{of} ({100 * n / of:.1f}%)" if of else "0/0"


def _proposed(res: dict, dtypes: list[str]) -> list[str]:
    # the norm-wise rule at the factor calibrated for the three low precisions together, on the held-out seeds
    k = res["suggested_k"]["r_norm"]["low_precision"]
    lines = [
        "",
        f"## Proposed rule: ||g_fn - t|| > {k:g} max(||g_ref - t||, eps/2 ||t||) per input (held-out seeds)",
        "",
    ]
    lines += ["| dtype | false alarms | missed detectable bugs | largest missed effect |", "|---|---|---|---|"]
    for d in dtypes:
        r = res["rule_rates"]["r_norm"][str(k)][d]
        lines.append(
            f"| {d} | {_rate(r['false_alarms'], r['correct'])} | {_rate(r['missed_detectable'], r['detectable'])} | {r['largest_missed_effect']:.3g} |"
        )
    return lines


def markdown(res: dict) -> str:
    dtypes = [_name(d) for d in DTYPES]
    s = res["setup"]
    lines = [
        "# torch_study: rounding of correct gradients vs realistic bugs",
        "",
        f"{s['cases']} custom autograd Functions, {s['bugs']} bugs, seeds {s['seeds']} "
        f"(k calibrated on {s['calibration_seeds']}, rates on the others), {s['cotangents']} cotangents each; torch {s['torch']}.",
        "r_max = max|g_fn - truth| / max(max|g_ref - truth|, eps/2 max|truth|) per input, worst input; r_norm: the same with 2-norms; "
        f"a bug is detectable when its float64 effect exceeds {s['detectable_effect']:g} x that scale.",
        "",
        "## Correct backwards: ratio distribution (all seeds)",
        "",
        "| dtype | r_max q50 | q90 | q99 | max | r_norm q50 | q99 | max | elementwise q50 | q99 | max | floor used |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d in dtypes:
        a = res["correct_ratio_quantiles"]["r_max"][d]
        b = res["correct_ratio_quantiles"]["r_norm"][d]
        e = res["elementwise_ratio_quantiles"][d]
        lines.append(
            f"| {d} | {a['q50']:.2f} | {a['q90']:.2f} | {a['q99']:.2f} | {a['q100']:.2f} | {b['q50']:.2f} | {b['q99']:.2f} | {b['q100']:.2f} "
            f"| {e['q50']:.2f} | {e['q99']:.2f} | {e['q100']:.2f} | {100 * res['floor_used_fraction'][d]:.0f}% |"
        )
    for key in ("r_max", "r_norm"):
        lines += [
            "",
            f"Suggested k for {key} (smallest grid factor above every calibration ratio): "
            + json.dumps(res["suggested_k"][key]),
        ]
    lines += _proposed(res, dtypes)
    lines += ["", "## Held-out rates: rules r_max > k and r_norm > k vs gradcheck and assert_close (defaults)", ""]
    lines += [
        "| check | dtype | false alarms | (all seeds) | missed detectable bugs | missed any bug | largest missed effect |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in ("r_max", "r_norm"):
        for k in K_GRID:
            for d in dtypes:
                r = res["rule_rates"][key][str(k)][d]
                lines.append(
                    f"| {key} > {k:g} | {d} | {_rate(r['false_alarms'], r['correct'])} | {r['false_alarms_all_seeds']} "
                    f"| {_rate(r['missed_detectable'], r['detectable'])} | {_rate(r['missed_any'], r['bugs'])} | {r['largest_missed_effect']:.3g} |"
                )
    for d in dtypes:
        a = res["baselines"][d]["assert_close"]
        lines.append(
            f"| assert_close | {d} | {_rate(a['false_alarms'], a['correct'])} | | {_rate(a['missed_detectable'], a['detectable'])} | {_rate(a['missed_any'], a['bugs'])} | |"
        )
    for d in dtypes:
        g = res["baselines"][d]["gradcheck"]
        lines.append(
            f"| gradcheck (seed 0; {g['errors']} errors) | {d} | {_rate(g['false_alarms'], g['correct'])} | | | {_rate(g['missed_any'], g['bugs'])} | |"
        )
    lines += ["", "## Per case: worst correct r_max, smallest bug effect (all seeds)", ""]
    lines += ["| case | bug | " + " | ".join(dtypes) + " |", "|---|---|" + "---|" * len(dtypes)]
    for e in res["per_case"]:
        key = "effect_min" if e["bug"] else "r_max_max"
        cells = " | ".join(f"{e[d][key]:.3g}" for d in dtypes)
        lines.append(f"| {e['case']} | {e['bug'] or '(correct)'} | {cells} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    torch.set_num_threads(1)
    res = study()
    OUT.mkdir(parents=True, exist_ok=True)
    write_text(OUT / "torch_study.json", to_json(res))
    write_text(OUT / "torch_study.md", markdown(res))
    print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
