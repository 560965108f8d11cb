"""Out-of-core data: shard folders, make_data, row blocks within a budget, and the memory cap.

One process here (gd_torch.distributed with one rank computes out of core in row blocks);
K ranks are in test_distributed.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import TOLERANCES, pairs

import gd_torch
import gd_torch.distributed as dist
from gd_torch import GdTorchError, errormodel, ooc, synthetic
from gd_torch.model import resolve


def write_shards(folder, X, y, rows: int) -> None:
    """X and y as shards of ``rows`` rows (tests only: make_data is the package's writer)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(range(0, X.shape[0], rows)):
        np.save(folder / f"X-{i:05d}.npy", X[s : s + rows])
        np.save(folder / f"y-{i:05d}.npy", y[s : s + rows])


# ---- make_data ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_make_data_is_separable_by_its_w_with_its_margin(tmp_path, dtype):
    out = synthetic.make_data(1000, 6, dtype, tmp_path / "d", seed=3, shard_rows=300)
    data = ooc.open_dataset(out)
    meta = ooc.read_meta(out)
    assert (data.n, data.d, str(data.dtype)) == (1000, 6, dtype)
    assert [s.n for s in data.shards] == [300, 300, 300, 100]
    X, y = data.take(np.arange(1000))
    assert (X[:, 0] == 1).all() and set(np.unique(y)) == {0.0, 1.0}
    z = X.astype(np.float64) @ np.array(meta["separating_W"])
    u = np.finfo(dtype).eps
    # sign (2y - 1) z >= margin, up to the rounding of X to dtype (|X_i| |W| u)
    slack = np.abs(X).astype(np.float64) @ np.abs(meta["separating_W"]) * u
    assert ((2 * y - 1) * z >= meta["margin"] - slack).all()


def test_make_data_depends_on_the_seed_and_not_on_the_block_it_was_read_in(tmp_path):
    a = ooc.open_dataset(synthetic.make_data(500, 4, "float64", tmp_path / "a", seed=1, shard_rows=200))
    b = ooc.open_dataset(synthetic.make_data(500, 4, "float64", tmp_path / "b", seed=1, shard_rows=200), budget=4096)
    c = ooc.open_dataset(synthetic.make_data(500, 4, "float64", tmp_path / "c", seed=2, shard_rows=200))
    Xa, ya = a.take(np.arange(500))
    Xb = np.concatenate([blk.X for blk in b.blocks(0, 500, ooc.row_bytes(4, b.dtype))])
    np.testing.assert_array_equal(Xa, Xb)
    assert not np.array_equal(Xa, c.take(np.arange(500))[0])


def test_make_data_reports_progress_and_rewrites_its_own_files_only(tmp_path):
    seen = []
    synthetic.make_data(300, 3, "float32", tmp_path / "d", shard_rows=100, progress=lambda k, n: seen.append((k, n)))
    assert seen[-1] == (300, 300) and len(seen) == 3
    (tmp_path / "d" / "notes.txt").write_text("mine")
    synthetic.make_data(150, 3, "float32", tmp_path / "d", shard_rows=100)  # its own: replaced, the third shard gone
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == [
        "X-00000.npy",
        "X-00001.npy",
        "meta.json",
        "notes.txt",
        "y-00000.npy",
        "y-00001.npy",
    ]
    assert ooc.open_dataset(tmp_path / "d").n == 150
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "meta.json").write_text('{"format": "something else"}')
    with pytest.raises(GdTorchError, match=r"^out must be a folder whose meta.json, if any, is a gd-torch dataset's"):
        synthetic.make_data(10, 3, "float32", tmp_path / "other")
    assert (tmp_path / "other" / "meta.json").read_text() == '{"format": "something else"}'


def test_an_interrupted_make_data_leaves_the_previous_dataset_as_it_was(tmp_path):
    out = synthetic.make_data(300, 3, "float64", tmp_path / "d", seed=1, shard_rows=100)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupt(rows: int, n: int) -> None:
        if rows > 200:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        synthetic.make_data(400, 3, "float64", out, seed=2, shard_rows=100, progress=interrupt)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no partial, no new shard
    with pytest.raises(KeyboardInterrupt):  # into a new folder: nothing left, not even the folder
        synthetic.make_data(400, 3, "float64", tmp_path / "new", shard_rows=100, progress=interrupt)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, r"^n must be an integer >= 1; got 0"),
        ({"d": 1}, r"^d must be an integer >= 2; got 1"),
        ({"dtype": "int8"}, r"^dtype must be 'float32' or 'float64'; got 'int8'"),
        ({"seed": -1}, r"^seed must be a non-negative integer; got -1"),
        ({"n": 1.5}, r"^n must be an integer >= 1; got 1.5"),
    ],
)
def test_make_data_refuses_bad_arguments(tmp_path, kwargs, match):
    args = {"n": 10, "d": 3, "dtype": "float32", "out": tmp_path / "d", **kwargs}
    with pytest.raises(GdTorchError, match=match):
        synthetic.make_data(**args)


def test_a_dataset_marked_incomplete_is_refused_not_read_as_less_data(tmp_path):
    out = synthetic.make_data(300, 3, "float32", tmp_path / "d", shard_rows=100)
    meta = ooc.read_meta(out)
    meta.update(complete=False, written=1)
    (out / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(GdTorchError, match=r"is incomplete: make-data stopped after 1 of 3 shards; run it again"):
        ooc.open_dataset(out)


# ---- opening shards -------------------------------------------------------------------------


def test_shards_of_different_width_or_dtype_are_refused_when_opened(tmp_path):
    X = np.ones((10, 3))
    write_shards(tmp_path / "w", X, np.zeros(10), 5)
    np.save(tmp_path / "w" / "X-00001.npy", np.ones((5, 4)))
    with pytest.raises(GdTorchError, match=r"one width and dtype: X-00001.npy is 5 x 4 float64, X-00000.npy has D = 3"):
        ooc.open_dataset(tmp_path / "w")
    write_shards(tmp_path / "t", X, np.zeros(10), 5)
    np.save(tmp_path / "t" / "X-00001.npy", np.ones((5, 3), dtype=np.float32))
    with pytest.raises(GdTorchError, match=r"X-00001.npy is 5 x 3 float32, X-00000.npy has D = 3 and dtype float64"):
        ooc.open_dataset(tmp_path / "t")


@pytest.mark.parametrize(
    ("plant", "match"),
    [
        (lambda f: np.save(f / "y-00001.npy", np.zeros(4)), r"one real label per row: y-00001.npy holds 4 labels"),
        (lambda f: (f / "y-00001.npy").unlink(), r"is missing y-00001.npy"),
        (lambda f: np.save(f / "y-00001.npy", np.zeros(5, dtype=np.int8)), None),  # integer labels: fine
        (lambda f: np.save(f / "X-00001.npy", np.asfortranarray(np.ones((5, 3)))), r"a C-order \(n, D\) X"),
        (lambda f: np.save(f / "X-00001.npy", np.ones(15)), r"shape \(15,\), fortran_order=False"),
        (lambda f: np.save(f / "X-00000.npy", np.ones((5, 3), dtype=np.int64)), r"X-00000.npy of dtype int64"),
        (lambda f: (f / "X-00001.npy").write_bytes(b"not a npy"), r"cannot be read as .npy"),
        (lambda f: _truncate(f / "X-00001.npy"), r"is truncated"),
    ],
)
def test_bad_shards_are_refused_with_the_file_named(tmp_path, plant, match):
    write_shards(tmp_path, np.ones((10, 3)), np.zeros(10), 5)
    plant(tmp_path)
    if match is None:
        assert ooc.open_dataset(tmp_path).n == 10
        return
    with pytest.raises(GdTorchError, match=match):
        ooc.open_dataset(tmp_path)


def _truncate(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:-8])


@pytest.mark.parametrize("bad", [None, 0, 4095, True, 1.5e6])
def test_the_budget_must_be_a_number_of_bytes(tmp_path, bad):
    write_shards(tmp_path, np.ones((4, 3)), np.zeros(4), 4)
    with pytest.raises(GdTorchError, match=r"^budget must be an integer number of bytes >= 4096"):
        ooc.open_dataset(tmp_path, budget=bad)


def test_not_a_dataset_folder(tmp_path):
    with pytest.raises(GdTorchError, match=r"^dataset must be a folder of .npy shards"):
        ooc.open_dataset(tmp_path / "absent")
    with pytest.raises(GdTorchError, match=r"^dataset must be a folder holding X.npy and y.npy"):
        ooc.open_dataset(tmp_path)


def test_blocks_stay_within_the_budget_and_cover_every_row_once(tmp_path, rng):
    X, y = rng.standard_normal((1000, 5)), rng.uniform(size=1000)
    write_shards(tmp_path, X, y, 333)
    data = ooc.open_dataset(tmp_path, budget=4096)
    per_row = ooc.row_bytes(5, data.dtype)
    blocks = list(data.blocks(100, 1000, per_row))
    assert max(b.X.shape[0] for b in blocks) * per_row <= 4096
    assert [b.start for b in blocks] == sorted(b.start for b in blocks)
    np.testing.assert_array_equal(np.concatenate([b.X for b in blocks]), X[100:])
    np.testing.assert_array_equal(np.concatenate([b.y for b in blocks]), y[100:])
    rows = np.array([0, 332, 333, 999])
    np.testing.assert_array_equal(data.take(rows)[0], X[rows])


# ---- one process, out of core: the same numbers as in memory ---------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("activation", "loss"), pairs())
@pytest.mark.parametrize("method", ["analytic", "autograd"])
def test_block_gradient_equals_the_in_memory_gradient_within_the_error_model(
    tmp_path, rng, dtype, activation, loss, method
):
    X = rng.standard_normal((500, 4)).astype(dtype)
    y = (rng.uniform(size=500) < 0.5).astype(dtype)
    W = (rng.standard_normal(4) / 2).astype(dtype)
    write_shards(tmp_path, X, y, 170)
    g = dist.gradient(W, ooc.open_dataset(tmp_path, budget=4096), method=method, loss=loss, activation=activation)
    g1 = gd_torch.gradient(W, X, y, method=method, loss=loss, activation=activation)
    assert g.dtype == g1.dtype == X.dtype
    err = errormodel.build(W, X, y, *resolve(loss, activation)).exact
    assert (np.abs(g.astype(np.float64) - g1) <= TOLERANCES["exact_pair"] * 2 * err).all()


def test_one_process_out_of_core_check_gives_the_in_memory_report(tmp_path, blobs):
    X, y = blobs
    write_shards(tmp_path, X, y, 100)
    W = gd_torch.init_weights(3, seed=0)
    methods = ["analytic", "autograd", "numeric", "tutorial"]
    for loss in ("sse", "bce"):
        r = dist.check(W, ooc.open_dataset(tmp_path, budget=4096), loss=loss, methods=methods)
        r1 = gd_torch.check(W, X, y, loss=loss, methods=methods)
        assert (r.ok, r.odd_one_out, [p.status for p in r.pairs]) == (
            r1.ok,
            r1.odd_one_out,
            [p.status for p in r1.pairs],
        )
    assert r.ok and not (dist.check(W, ooc.Arrays(X, y), methods=methods).ok)


def test_a_nan_in_x_is_named_by_its_row_in_the_whole_data(tmp_path):
    X = np.ones((300, 3))
    X[217, 1] = np.nan
    write_shards(tmp_path, X, np.zeros(300), 100)
    with pytest.raises(GdTorchError, match=r"^X must be finite: row 217 of X gives z = X @ W = nan"):
        dist.gradient(np.ones(3), ooc.open_dataset(tmp_path, budget=4096))


def test_labels_other_than_0_and_1_are_refused_for_bce_and_for_training(tmp_path):
    y = np.zeros(300)
    y[250] = 0.5
    write_shards(tmp_path, np.ones((300, 3)), y, 100)
    data = ooc.open_dataset(tmp_path, budget=4096)
    with pytest.raises(GdTorchError, match=r"y must be 0 or 1 \(loss='bce' is a cross-entropy.*\); got y\[250\] = 0.5"):
        dist.gradient(np.ones(3), data, loss="bce")
    with pytest.raises(GdTorchError, match=r"y must be 0 or 1 \(fit trains a binary classifier.*got y\[250\] = 0.5"):
        dist.stepper(data)
    assert np.isfinite(dist.gradient(np.ones(3), data)).all()  # sse takes any real label


# ---- the memory cap -------------------------------------------------------------------------

_CAPPED = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import gd_torch, gd_torch.distributed as dist
    from gd_torch import ooc

    def peak_kib():  # VmHWM: the peak resident set since the last reset
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])

    def work(data):
        W = np.zeros(data.d, dtype=data.dtype)
        out = {"g": dist.gradient(W, data, loss="bce").tolist()}
        out["ga"] = dist.gradient(W, data, method="autograd", loss="bce").tolist()
        out["check"] = dist.check(W, data, loss="bce", mode="directional").ok
        st = dist.stepper(data, loss="bce", seed=0)
        for _ in range(3):
            st.loss(W)
            st.step(W, 0.5)
        out["W"], out["L"] = W.tolist(), st.loss(W)
        return out

    # every code path once on a small problem, so that imports and lazy set-up are not counted
    X, y = gd_torch.tutorial_data(dtype=np.float32)
    work(ooc.Arrays(np.hstack([X] * 22)[:, :64], y))
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset VmHWM to the current resident set
    base = peak_kib()
    out = work(ooc.open_dataset(sys.argv[1], budget=int(sys.argv[2])))
    out["growth_kib"] = peak_kib() - base
    print(json.dumps(out))
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status (Linux)")
def test_a_memory_mapped_x_several_times_the_memory_cap_trains_and_checks_within_it(tmp_path):
    # X: 300000 x 64 float32 = 73 MiB on disk, 9x the cap of 8 MiB of growth; budget 2 MiB per block
    n, d, budget, cap = 300_000, 64, 2 << 20, 8 << 20
    folder = synthetic.make_data(n, d, "float32", tmp_path / "d", seed=0, shard_rows=120_000)
    x_bytes = n * d * 4
    assert x_bytes >= 9 * cap
    run = subprocess.run(
        [sys.executable, "-c", _CAPPED, str(folder), str(budget)], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["growth_kib"] * 1024 <= cap, f"peak resident set grew by {out['growth_kib']} KiB"
    # and it did read all of X: the same gradient as in memory
    data = ooc.open_dataset(folder)
    X, y = data.take(np.arange(n))
    g1 = gd_torch.gradient(np.zeros(d, np.float32), X, y, loss="bce")
    err = errormodel.build(np.zeros(d, np.float32), X, y, *resolve("bce", "sigmoid")).exact
    assert (np.abs(np.array(out["g"]) - g1) <= 2 * err).all()
    assert (np.abs(np.array(out["ga"]) - g1) <= 2 * err).all()
    assert out["check"] and out["L"] < np.log(2)  # three steps from W = 0 lowered the loss


# ---- the command line, one process ----------------------------------------------------------


def test_cli_make_data_then_train_and_check_out_of_core_as_in_memory(tmp_path, capsys):
    from gd_torch.cli import main

    folder = tmp_path / "d"
    assert (
        main(["make-data", "--n", "2e3", "--d", "4", "--dtype", "float64", "--out", str(folder), "--shard-rows", "700"])
        == 0
    )
    out, err = capsys.readouterr()
    assert out.startswith(f"wrote {folder}/: 2000 x 4 float64 in 3 shards") and "100%  2000/2000 rows" in err
    argv = ["train", "--dataset", str(folder), "--loss", "bce", "--method", "analytic", "--alpha", "0.5"]
    assert main([*argv, "--epochs", "20", "--block-mib", "0.01", "--out", str(tmp_path / "o")]) == 0
    out, err = capsys.readouterr()
    X, y = ooc.open_dataset(folder).take(np.arange(2000))
    r = gd_torch.fit(X, y, method="analytic", loss="bce", alpha=0.5, epochs=20, seed=42)
    for k, value in re.findall(r"^epoch #(\d+), loss=([0-9.]+)$", out, flags=re.M):
        assert value == f"{r.loss_history[int(k) - 1]:.7f}"
    assert f"final: loss={r.final_loss:.7f} (bce) after epoch #20's update, accuracy={r.final_accuracy:.4f}" in out
    # the ten samples the in-memory run shows, as it shows them
    picks = np.random.default_rng(np.random.SeedSequence(42, spawn_key=(2,))).choice(2000, size=10, replace=False)
    a = 1 / (1 + np.exp(-(X[picks] @ r.weights)))
    shown = re.findall(r"^  sample +(\d+): activation=([0-9.]+);", out, flags=re.M)
    assert shown == [(str(i), f"{v:.4f}") for i, v in zip(picks, a, strict=True)]
    assert (tmp_path / "o" / "loss.png").is_file() and "1 rank(s)" in out and err == ""
    # the tutorial's rule checked on the same data: it is bce's gradient, not sse's
    assert main(["check", "--dataset", str(folder), "--loss", "bce", "--methods", "analytic,tutorial"]) == 0
    assert main(["check", "--dataset", str(folder), "--loss", "sse", "--methods", "analytic,tutorial"]) == 1
    assert "FAIL: analytic, tutorial disagree" in capsys.readouterr().out


def test_cli_make_data_names_its_flags_in_errors(tmp_path, capsys):
    from gd_torch.cli import main

    (tmp_path / "file").write_text("")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "meta.json").write_text("{}")
    base = ["make-data", "--n", "10", "--d", "3", "--quiet"]
    for flags, message in (
        (["--out", str(tmp_path / "file")], f"--out must be a folder; got {str(tmp_path / 'file')!r}, which is a file"),
        (
            ["--out", str(tmp_path / "foreign")],
            "--out must be a folder whose meta.json, if any, is a gd-torch dataset's",
        ),
        (["--out", str(tmp_path / "d"), "--dtype", "int8"], "--dtype must be one of float32, float64; got 'int8'"),
        (["--out", str(tmp_path / "d"), "--shard-rows", "0"], "--shard-rows must be a positive integer; got '0'"),
        (["--out", str(tmp_path / "d"), "--n", "1.5"], "--n must be a positive whole number such as 1000000 or 1e6"),
    ):
        assert main([*base, *flags]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"gd-torch: error: {message}") and len(err.splitlines()) == 1, err
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--timeout", "0"], r"^gd-torch: error: --timeout must be a finite number > 0; got '0'$"),
        (["--block-mib", "nan"], r"^gd-torch: error: --block-mib must be a number of MiB >= 1/256"),
        (
            ["--device", "cuda"],
            r"^gd-torch: error: --device must be 'cpu' for method='tutorial' \(it runs on the CPU only\)",
        ),
    ],
)
def test_cli_out_of_core_flags_are_checked(tmp_path, capsys, flags, message):
    from gd_torch.cli import main

    synthetic.make_data(10, 3, "float32", tmp_path / "d")
    assert main(["train", "--dataset", str(tmp_path / "d"), "--no-plots", *flags]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and re.match(message, err), err


def test_cli_flags_that_a_dataset_folder_overrides_are_refused_not_ignored(tmp_path, capsys):
    from gd_torch.cli import main

    synthetic.make_data(10, 3, "float64", tmp_path / "d")
    for flags, message in (
        (["--dtype", "float32"], "--dtype must be the dataset's own dtype (float64) or left out; got 'float32'"),
        (["--label", "y"], "--label must be given only with a CSV --dataset (a dataset folder holds y); got 'y'"),
    ):
        assert main(["check", "--dataset", str(tmp_path / "d"), *flags]) == 2
        assert capsys.readouterr().err == f"gd-torch: error: {message}\n"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda d: dist.gradient(np.ones(3), d, method="magic"), r"^method must be one of 'analytic', "),
        (lambda d: dist.gradient(np.ones(3), d, method="analytic", step=1e-3), r"^options \['step'\] are not accepted"),
        (lambda d: dist.gradient(np.ones(4), d), r"^W must be of shape \(n_features,\) = \(3,\)"),
        (
            lambda d: dist.gradient(np.array([1.0, np.nan, 0]), d),
            r"^W must be finite \(no NaN or inf\); got 'W\[1\] = nan'",
        ),
        (
            lambda d: dist.gradient(np.ones(3), d, loss="bce", activation="relu"),
            r"^activation must be one of 'sigmoid'",
        ),
        (
            lambda d: dist.gradient(np.ones(3), d, method="numeric", scheme="complex"),
            r"^options \['scheme'\] are not accepted by method='numeric' on row blocks; accepted: step$",
        ),
        (
            lambda d: dist.gradient(np.ones(3), d, method="numeric", step=-1.0),
            r"^step must be a positive finite number",
        ),
        (lambda d: dist.check(np.ones(3), d, mode="all"), r"^mode must be one of 'full', 'directional'; got 'all'"),
        (lambda d: dist.check(np.ones(3), d, methods=["analytic"]), r"^methods must be at least two method names"),
        (lambda d: dist.check(np.ones(3), d, methods=["numeric", "numeric:central"]), r"^methods must be distinct"),
        (lambda d: dist.stepper(d, batch_size=0), r"^batch_size must be None or an integer from 1 to n_samples = 20"),
        (
            lambda d: dist.stepper(d, method="magic"),
            r"^method must be one of 'analytic', 'autograd', 'numeric:central'",
        ),
        (lambda d: dist.stepper(d, seed=-1), r"^seed must be None or a non-negative integer; got -1"),
        (lambda d: dist.init(timeout=0), r"^timeout must be a number of seconds > 0; got 0"),
        (lambda d: dist.init(device="cuda:99"), r"^device must be"),
    ],
)
def test_the_distributed_functions_check_their_input_at_the_boundary(call, match):
    X = np.ones((20, 3))
    X[:, 1:] = np.arange(40).reshape(20, 2) / 40
    data = ooc.Arrays(X, (np.arange(20) % 2).astype(float))
    with pytest.raises(GdTorchError, match=match):
        call(data)
