"""Out-of-core data: shard folders, make_data, row blocks within a budget, and the memory cap.

One process here (gd_torch.distributed with one rank computes out of core in row blocks);
K ranks are in test_distributed.py.
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import TOLERANCES, pairs

import gd_torch
import gd_torch.distributed as dist
from gd_torch import GdTorchError
from gd_torch.base import files as _io
from gd_torch.data import shards as ooc
from gd_torch.data import synthetic
from gd_torch.model.forward import resolve
from gd_torch.precision import errormodel


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


def test_make_data_without_hard_links_keeps_one_hidden_dataset_the_one_meta_names(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    out = tmp_path / "d"
    synthetic.make_data(300, 3, "float64", out, seed=0, shard_rows=100)  # linked: X-00000.npy, ...
    monkeypatch.setattr(os, "link", no_links)
    for seed in (1, 2, 3):
        synthetic.make_data(300, 3, "float64", out, seed=seed, shard_rows=100)
        hidden = [p.name for p in out.iterdir() if p.name != "meta.json"]
        assert len(hidden) == 1 and ooc.GENERATION.match(hidden[0]), hidden  # the old linked shards gone too
        assert {sh["X"].split("/")[0] for sh in ooc.read_meta(out)["shards"]} == {hidden[0]}
        assert ooc.read_meta(out)["seed"] == seed and ooc.open_dataset(out).n == 300


def test_make_data_link_error_other_than_no_hard_links_is_an_error(tmp_path, monkeypatch):
    def broken(src, dst):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "link", broken)
    with pytest.raises(GdTorchError, match=r"^could not link '.*X-00000.npy': Input/output error$"):
        synthetic.make_data(300, 3, "float64", tmp_path / "d", shard_rows=100)
    assert ooc.open_dataset(tmp_path / "d").n == 300  # switched: the new dataset, in its hidden folder


def test_make_data_after_a_run_stopped_right_after_the_switch_removes_the_older_extra_shards(tmp_path, monkeypatch):
    out = synthetic.make_data(800, 3, "float64", tmp_path / "kw", shard_rows=200)  # 4 shards

    def stopped(src, dst):
        raise KeyboardInterrupt  # as a kill: meta.json names the hidden folder, X-00002.npy ... stay

    with monkeypatch.context() as m:
        m.setattr(_io, "link_into", stopped)
        with pytest.raises(KeyboardInterrupt):
            synthetic.make_data(800, 3, "float64", out, shard_rows=500)
    synthetic.make_data(800, 3, "float64", out, shard_rows=500)
    assert sorted(p.name for p in out.iterdir()) == [
        "X-00000.npy",
        "X-00001.npy",
        "meta.json",
        "y-00000.npy",
        "y-00001.npy",
    ]


#: make_data in a forked child killed (SIGKILL) just before its k-th rename, replace, link or
#: unlink, for k = 1, 2, ... until a run gets through, in each root folder given; prints the number
#: of kills of each, one a line
_KILLED_AT_EVERY_STEP = textwrap.dedent(
    """
    import json, os, shutil, signal, sys
    from pathlib import Path
    from gd_torch.data import synthetic

    args = json.loads(sys.argv[1])
    for root in map(Path, sys.argv[2:]):
        for k in range(1, 500):
            work = root / f"k{k}"
            if (root / "pristine").exists():
                shutil.copytree(root / "pristine", work, symlinks=True)
            pid = os.fork()
            if pid == 0:
                calls = [0]

                def killing(f):
                    def call(*a, **kw):
                        calls[0] += 1
                        if calls[0] == k:
                            os.kill(os.getpid(), signal.SIGKILL)
                        return f(*a, **kw)

                    return call

                for name in ("replace", "rename", "link", "unlink"):
                    setattr(os, name, killing(getattr(os, name)))
                synthetic.make_data(out=work, **args)
                os._exit(0)
            _, status = os.waitpid(pid, 0)
            if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
                print(k - 1)
                break
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
    """
)


def _dataset(folder):
    # what the folder opens as: None when it is no dataset, else its arrays and separating W
    try:
        data = ooc.open_dataset(folder)
    except GdTorchError:
        return None
    X, y = data.take(np.arange(data.n))
    return X.tobytes(), y.tobytes(), tuple(ooc.read_meta(folder)["separating_W"])


#: the rewrite that _KILLED_AT_EVERY_STEP kills
_NEW = {"n": 400, "d": 3, "dtype": "float64", "seed": 2, "shard_rows": 100}


@pytest.fixture(scope="module")
def killed_at_every_step(tmp_path_factory) -> dict[str, tuple[Path, int]]:
    """before -> (root, number of kills): _KILLED_AT_EVERY_STEP over a folder holding a dataset
    (root/pristine, with a file of the user's) and over nothing, in one process (one start-up)."""
    roots = {before: tmp_path_factory.mktemp("killed") for before in ("a dataset", "nothing")}
    synthetic.make_data(300, 3, "float64", roots["a dataset"] / "pristine", seed=1, shard_rows=100)
    (roots["a dataset"] / "pristine" / "notes.txt").write_text("mine")
    run = subprocess.run(
        [sys.executable, "-c", _KILLED_AT_EVERY_STEP, json.dumps(_NEW), *map(str, roots.values())],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    return {before: (root, int(k)) for (before, root), k in zip(roots.items(), run.stdout.split(), strict=True)}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="kills a forked child")
@pytest.mark.parametrize("before", ["a dataset", "nothing"])
def test_make_data_killed_at_any_step_leaves_exactly_the_old_or_the_new_dataset(killed_at_every_step, before):
    new = _NEW
    tmp_path, kills = killed_at_every_step[before]
    old = _dataset(tmp_path / "pristine")
    want = _dataset(synthetic.make_data(out=tmp_path / "reference", **new))
    assert want is not None and want != old
    assert kills >= 10  # every rename, replace, link and unlink of a rewrite was a kill point
    seen = set()
    for k in range(1, kills + 1):
        got = _dataset(tmp_path / f"k{k}")
        assert got in (old, want), f"killed before step {k}: the folder opens as neither the old nor the new dataset"
        seen.add("new" if got == want else "old")
        # the next run completes the rewrite and removes what the killed one left
        synthetic.make_data(out=tmp_path / f"k{k}", **new)
        assert _dataset(tmp_path / f"k{k}") == want
        left = sorted(p.name for p in (tmp_path / f"k{k}").iterdir())
        mine = ["notes.txt"] if before == "a dataset" else []
        assert left == sorted([*(f"{a}-{i:05d}.npy" for a in "Xy" for i in range(4)), "meta.json", *mine])
    assert seen == {"old", "new"}  # kills fell on both sides of the switch


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


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda m: [m], r"meta.json must hold a JSON object; got \[\{"),
        (lambda m: "text", r"meta.json must hold a JSON object; got \"text\""),
        (lambda m: {k: v for k, v in m.items() if k != "shards"}, r'must list its shards as "shards": .*; got null$'),
        (lambda m: {k: v for k, v in m.items() if k != "complete"}, r"is incomplete: .*\"complete\": null; only true"),
        (lambda m: m | {"complete": "false"}, r'is incomplete: .*"complete": "false"; only true is complete'),
        (lambda m: m | {"complete": 1}, r"is incomplete: .*\"complete\": 1; only true is complete"),
        (lambda m: m | {"shards": []}, r"must list its shards .*; got \[\]$"),
        (lambda m: m | {"shards": [{"X": "X-00000.npy"}]}, r'; got \{"X": "X-00000.npy"\}$'),
        (lambda m: m | {"shards": ["X-00000.npy"]}, r'; got "X-00000.npy"$'),
        (lambda m: m | {"shards": [{"X": "../X-00000.npy", "y": "y-00000.npy"}]}, r"; got \{\"X\": \"../X"),
        (lambda m: m | {"shards": [{"X": "/etc/passwd", "y": "y-00000.npy"}]}, r"; got \{\"X\": \"/etc/passwd"),
        (lambda m: m | {"shards": [{"X": 3, "y": "y-00000.npy"}]}, r'; got \{"X": 3, "y"'),
        # a shard listed twice would be read twice: 30 rows where "n" says 20
        (
            lambda m: m | {"shards": [m["shards"][0]] * 3},
            r"must list each shard file once .*; got 'X-00000.npy' twice$",
        ),
        (
            lambda m: m | {"shards": [*m["shards"], {"X": "X-00001.npy", "y": "y-00000.npy", "rows": 10}]},
            r"got 'X-00001",
        ),
        (lambda m: m | {"n": 30}, r'must list shards whose "rows" add up to "n" = 30; they add up to 20$'),
        (lambda m: m | {"n": "20"}, r'must give "n" as the number of rows; got "20"$'),
        (lambda m: m | {"n": True}, r'must give "n" as the number of rows; got true$'),
        (
            lambda m: m | {"n": 30, "shards": [{"X": s["X"], "y": s["y"]} for s in m["shards"]]},
            r'its shards must hold the "n" = 30 rows meta.json gives; they hold 20$',
        ),
    ],
)
def test_a_malformed_meta_json_is_refused_naming_the_folder_and_what_is_wrong(tmp_path, edit, match):
    out = synthetic.make_data(20, 3, "float32", tmp_path / "d", shard_rows=10)
    meta = ooc.read_meta(out)
    (out / "meta.json").write_text(json.dumps(edit(meta)))
    with pytest.raises(GdTorchError, match=rf"^dataset {re.escape(str(out))}[: ].*{match}"):
        ooc.open_dataset(out)


@pytest.mark.parametrize(("text", "match"), [("[]", r"must hold a JSON object; got \[\]"), ("{", r"cannot be read: ")])
def test_make_data_names_its_out_flag_when_the_meta_json_there_is_not_an_object(tmp_path, capsys, text, match):
    from gd_torch.cli.app import main

    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "meta.json").write_text(text)
    with pytest.raises(GdTorchError, match=rf"^out {re.escape(str(tmp_path / 'bad'))}: meta.json {match}"):
        synthetic.make_data(10, 2, "float32", tmp_path / "bad")
    assert main(["make-data", "--n", "10", "--d", "2", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert re.match(rf"gd-torch: error: --out {re.escape(str(tmp_path / 'bad'))}: meta.json {match}", err), err
    assert err.count("\n") == 1
    assert (tmp_path / "bad" / "meta.json").read_text() == text


def test_a_meta_json_nested_too_deeply_for_the_json_decoder_is_refused(tmp_path):
    out = synthetic.make_data(20, 3, "float32", tmp_path / "d", shard_rows=10)
    (out / "meta.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(GdTorchError, match=r"^dataset .*: meta.json cannot be read: it is nested too deeply$"):
        ooc.open_dataset(out)


def test_a_folder_of_zero_columns_is_refused_as_the_datasets_fault(tmp_path, capsys):
    from gd_torch.cli.app import main

    write_shards(tmp_path, np.ones((4, 0)), np.zeros(4), 4)
    assert main(["train", "--dataset", str(tmp_path), "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith(f"gd-torch: error: dataset {tmp_path} must be X with at least one column") and "--n-" not in err
    )
    with pytest.raises(
        GdTorchError, match=r"^dataset .* must be X with at least one column; got 'X-00000.npy of shape \(4, 0\)'$"
    ):
        ooc.open_dataset(tmp_path)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda f: (f / "X-00001.npy").unlink(), r"X-00001.npy' changed while .*\(it cannot be read now: No such file"),
        (lambda f: _truncate(f / "X-00001.npy"), r"X-00001.npy' changed while .*\(\d+ bytes then, \d+ now\)"),
        (lambda f: _truncate(f / "y-00001.npy"), r"y-00001.npy' changed while .*\(\d+ bytes then, \d+ now\)"),
        (lambda f: np.save(f / "X-00001.npy", np.zeros((5, 3))), r"X-00001.npy' changed while .*\(rewritten in place"),
        (
            lambda f: _replace(f / "X-00001.npy", np.zeros((5, 3))),
            r"X-00001.npy' changed while .*\(replaced by another",
        ),
    ],
)
def test_a_shard_deleted_truncated_or_replaced_during_a_pass_stops_it_naming_the_file(tmp_path, change, match):
    X = np.arange(30.0).reshape(10, 3)
    write_shards(tmp_path, X, np.zeros(10), 5)
    data = ooc.open_dataset(tmp_path, budget=4096)
    per_row = ooc.row_bytes(3, data.dtype)
    blocks = data.blocks(0, 10, per_row)
    first = next(blocks)  # rows of shard 0, read before the change
    np.testing.assert_array_equal(first.X, X[: first.X.shape[0]])
    change(tmp_path)
    with pytest.raises(GdTorchError, match=match):
        list(blocks)
    with pytest.raises(GdTorchError, match=match):
        data.take(np.array([0, 9]))
    with pytest.raises(GdTorchError, match=match):  # and on the public functions' paths
        dist.gradient(np.ones(3), data, loss="sse")


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


def _replace(path, array) -> None:
    np.save(path.with_name("new.npy"), array)
    (path.with_name("new.npy")).replace(path)


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


@pytest.mark.parametrize("mode", ["full", "directional"])
def test_kink_allowances_summed_over_row_blocks_give_the_in_memory_report(rng, mode):
    # relu with samples exactly at the kink and random ones around them, in blocks of a few rows:
    # each method's kink allowance is a sum over samples, the steps come from the MAX of the blocks'
    # column scales, so statuses, values, error estimates and kinked samples are the in-memory ones
    from test_check import KINK_W, KINK_X, KINK_Y

    X = np.vstack([rng.standard_normal((130, 3)), KINK_X, rng.standard_normal((90, 3)) * 4, KINK_X])
    y = np.concatenate([rng.uniform(size=130), KINK_Y, rng.uniform(size=90), KINK_Y])
    methods = ["analytic", "autograd", "numeric"]
    one = gd_torch.check(KINK_W, X, y, activation="relu", methods=methods, mode=mode)
    blocks = dist.check(KINK_W, ooc.Arrays(X, y, budget=4096), activation="relu", methods=methods, mode=mode)
    assert "kink" in [p.status for p in one.pairs]
    assert [p.status for p in blocks.pairs] == [p.status for p in one.pairs]
    assert blocks.kinks.tolist() == one.kinks.tolist()[:5]  # the first five, as one rank shows them
    for m in ("analytic", "autograd"):  # one error model: the same sums, added in another order
        np.testing.assert_allclose(blocks.gradients[m], one.gradients[m], rtol=1e-12)
        np.testing.assert_allclose(blocks.errors[m], one.errors[m], rtol=1e-12)
    # the same steps; the values of L differ by their rounding (sums over blocks), which the
    # differences amplify by 1 / h: within the estimate, which moves by that much (0.2% measured)
    g, g1 = blocks.gradients["numeric"], one.gradients["numeric"]
    assert (np.abs(g - g1) <= errormodel.SAFETY["float64"] * (blocks.errors["numeric"] + one.errors["numeric"])).all()
    np.testing.assert_allclose(blocks.errors["numeric"], one.errors["numeric"], rtol=0.02)
    for p, q in zip(blocks.pairs[1:], one.pairs[1:], strict=True):  # the pairs with numeric and its allowance
        assert p.ratio == pytest.approx(q.ratio, rel=0.02)


@pytest.mark.parametrize("mode", ["full", "directional"])
def test_a_float32_check_on_row_blocks_differences_in_float64_as_in_memory(blobs, mode):
    # numeric.for_check differences float32 data in float64 with float64's error model: on row
    # blocks too, so the witness's error is float64's (~1e-9 here), not float32's (~1e-3)
    X, y = (a.astype(np.float32) for a in blobs)
    W = gd_torch.init_weights(3, seed=0).astype(np.float32)
    methods = ["analytic", "numeric", "numeric:complex"]
    one = gd_torch.check(W, X, y, loss="bce", methods=methods, mode=mode)
    blocks = dist.check(W, ooc.Arrays(X, y, budget=4096), loss="bce", methods=methods, mode=mode)
    assert [p.status for p in blocks.pairs] == [p.status for p in one.pairs] == ["agree"] * 3
    for m in methods[1:]:
        assert (one.errors[m] < 1e-6).all()
        g, g1 = blocks.gradients[m], one.gradients[m]
        assert (np.abs(g - g1) <= errormodel.SAFETY["float64"] * (blocks.errors[m] + one.errors[m])).all()
        np.testing.assert_allclose(blocks.errors[m], one.errors[m], rtol=0.02)


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
    from gd_torch.data import shards as ooc

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
    # X: 75000 x 64 float32 = 18 MiB on disk, 9x the cap of 2 MiB of growth; budget 512 KiB per
    # block (the cap 4 blocks, as at any size: the ratios are the claim, not the megabytes)
    n, d, budget, cap = 75_000, 64, 512 << 10, 2 << 20
    folder = synthetic.make_data(n, d, "float32", tmp_path / "d", seed=0, shard_rows=30_000)
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
    from gd_torch.cli.app import main

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
    from gd_torch.cli.app import main

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
        (["--timeout", "0"], r"^gd-torch: error: --timeout must be a number of seconds from 1 to 1e6; got '0'$"),
        (
            ["--timeout", "0.001"],
            r"^gd-torch: error: --timeout must be a number of seconds from 1 to 1e6; got '0.001'$",
        ),
        (["--timeout", "1e7"], r"^gd-torch: error: --timeout must be a number of seconds from 1 to 1e6; got '1e7'$"),
        (
            ["--timeout", "1e7", "--workers", "2"],  # refused up front, before any rank starts
            r"^gd-torch: error: --timeout must be a number of seconds from 1 to 1e6; got '1e7'$",
        ),
        (["--block-mib", "nan"], r"^gd-torch: error: --block-mib must be a number of MiB >= 1/256"),
        (
            ["--device", "cuda"],
            r"^gd-torch: error: --device must be 'cpu' for method='tutorial' \(it runs on the CPU only\)",
        ),
    ],
)
def test_cli_out_of_core_flags_are_checked(tmp_path, capsys, flags, message):
    from gd_torch.cli.app import main

    synthetic.make_data(10, 3, "float32", tmp_path / "d")
    assert main(["train", "--dataset", str(tmp_path / "d"), "--no-plots", *flags]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and re.match(message, err), err


def test_cli_flags_that_a_dataset_folder_overrides_are_refused_not_ignored(tmp_path, capsys):
    from gd_torch.cli.app import main

    synthetic.make_data(10, 3, "float64", tmp_path / "d")
    where = f"{str(tmp_path / 'd')!r} is a dataset folder, which holds y and only X's columns"
    for flags, message in (
        (["--dtype", "float32"], "--dtype must be the dataset's own dtype (float64) or left out; got 'float32'"),
        (["--label", "y"], f"--label must be given only with a CSV --dataset ({where}); got 'y'"),
        (["--drop", "a"], f"--drop must be given only with a CSV --dataset ({where}); got 'a'"),
        (["--standardize"], f"--standardize must be given only with a CSV --dataset ({where}); got True"),
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
        (lambda d: dist.init(timeout=0), r"^timeout must be a number of seconds from 1 to 1e6; got 0$"),
        (lambda d: dist.init(timeout=0.001), r"^timeout must be a number of seconds from 1 to 1e6; got 0.001$"),
        (lambda d: dist.init(timeout=1e7), r"^timeout must be a number of seconds from 1 to 1e6; got 10000000.0$"),
        (lambda d: dist.init(device="cuda:99"), r"^device must be"),
    ],
)
def test_the_distributed_functions_check_their_input_at_the_boundary(call, match):
    X = np.ones((20, 3))
    X[:, 1:] = np.arange(40).reshape(20, 2) / 40
    data = ooc.Arrays(X, (np.arange(20) % 2).astype(float))
    with pytest.raises(GdTorchError, match=match):
        call(data)


# ---- the pieces main's modules gave the distributed code -------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("activation", "loss"), pairs())
def test_the_error_model_from_sums_over_row_blocks_is_the_one_built_in_memory(rng, dtype, activation, loss):
    # errormodel.partial_sums / from_sums restate build's sums; they must stay the same model
    X = rng.standard_normal((300, 4)).astype(dtype)
    y = (rng.uniform(size=300) < 0.5).astype(dtype)
    W = (rng.standard_normal(4) / 2).astype(dtype)
    lo, act = resolve(loss, activation)
    one = errormodel.build(W, X, y, lo, act)
    sums = sum(errormodel.partial_sums(W, X[s : s + 70], y[s : s + 70], lo, act, 300) for s in range(0, 300, 70))
    blocks = errormodel.from_sums(sums, 300, X.dtype, lo)
    np.testing.assert_allclose(blocks.exact, one.exact, rtol=1e-12, atol=0)
    np.testing.assert_allclose(blocks.f_noise, one.f_noise, rtol=1e-12, atol=0)
    assert (blocks.u, blocks.dtype, blocks.f_rel) == (one.u, one.dtype, one.f_rel)
    k3 = errormodel.from_sums(sums, 300, X.dtype, lo, ranks=3)  # the all-reduce's own rounding on top
    assert (k3.exact > blocks.exact).all() and k3.f_noise > blocks.f_noise


def _summed(W, X, y, lo, act):
    # the tutorial's rule times N: a sum over samples
    return (X.T @ (act.f(X @ W) - y)).astype(X.dtype)


def _first_sample(W, X, y, lo, act):
    # looks at one sample whatever the rows: neither a sum nor a mean over them
    return (X[0] * (act.f(X[0] @ W) - y[0])).astype(X.dtype)


@pytest.fixture
def registered(monkeypatch):
    # a copy of the registry for this test, with two methods of a user's
    from gd_torch.gradients import METHODS, Method, register

    monkeypatch.setattr(gd_torch.gradients, "METHODS", dict(METHODS))
    register(Method("summed", "X^T (f(XW) - y)", "X^T (f(XW) - y)", _summed))
    register(Method("first", "one sample's term", "X_0 (f(X_0 W) - y_0)", _first_sample))


def test_a_method_added_through_the_registry_alone_is_split_over_row_blocks(registered, tmp_path):
    X, y = gd_torch.tutorial_data()
    write_shards(tmp_path, X, y, 100)
    data = ooc.open_dataset(tmp_path, budget=4096)
    W = gd_torch.init_weights(3, seed=0)
    g = dist.gradient(W, data, method="summed")  # a sum over samples: blocks add up
    np.testing.assert_allclose(g, _summed(W, X, y, *resolve("sse", "sigmoid")), rtol=1e-13)
    g = dist.gradient(W, data, method="tutorial", loss="sse")  # a mean: blocks weighted n_b / N
    np.testing.assert_allclose(g, gd_torch.gradient(W, X, y, method="tutorial"), rtol=1e-13)
    report = dist.check(W, data, loss="bce", methods=["analytic", "autograd", "summed"])
    assert not report.ok and report.odd_one_out == "summed"  # N times bce's gradient
    st = dist.stepper(data, method="summed", seed=0)
    r = dist.run(st, W, alpha=1e-3, epochs=3)
    f = gd_torch.fit(X, y, method="summed", alpha=1e-3, epochs=3, init="uniform", seed=0)
    np.testing.assert_allclose(r.loss_history[0], f.loss_history[0], rtol=1e-13)
    with pytest.raises(GdTorchError, match=r"^method='first' cannot be split over row blocks: on the same rows"):
        dist.gradient(W, data, method="first")
    with pytest.raises(GdTorchError, match=r"^method='first' cannot be split"):
        dist.stepper(data, method="first")


def test_a_users_activation_and_loss_work_on_row_blocks(tmp_path, rng):
    softsign = gd_torch.Activation(
        "softsign",
        f=lambda z: z / (1 + abs(z)),
        df=lambda z, a: 1 / (1 + abs(z)) ** 2,
        formula="a = z / (1 + |z|)",
        dformula="da/dz = 1 / (1 + |z|)^2",
        smooth=False,
        torch_f=lambda z: z / (1 + z.abs()),
    )
    X, y = rng.standard_normal((300, 3)), (rng.uniform(size=300) < 0.5).astype(float)
    W = rng.standard_normal(3)
    write_shards(tmp_path, X, y, 120)
    data = ooc.open_dataset(tmp_path, budget=4096)
    for method in ("analytic", "autograd", "numeric"):
        g = dist.gradient(W, data, method=method, loss="mse", activation=softsign)
        g1 = gd_torch.gradient(W, X, y, method=method, loss="mse", activation=softsign)
        np.testing.assert_allclose(g, g1, rtol=1e-9 if method == "numeric" else 1e-13)
    assert dist.check(W, data, loss="mse", activation=softsign, methods=["analytic", "autograd", "numeric"]).ok


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [({"tol": 0.2}, "tol"), ({"patience": 2}, "patience"), ({}, "epochs")],
)
def test_distributed_run_stops_and_diverges_as_fit_does(blobs, kwargs, reason):
    X, y = blobs
    alpha = 5.0 if reason == "patience" else 0.1  # too large a step stops improving
    st = dist.stepper(ooc.Arrays(X, y), method="analytic", loss="bce", seed=0)
    W0 = gd_torch.init_weights(3, seed=0)
    r = dist.run(st, W0, alpha=alpha, epochs=60, **kwargs)
    f = gd_torch.fit(X, y, method="analytic", loss="bce", alpha=alpha, epochs=60, seed=0, **kwargs)
    assert (r.stop_reason, r.epochs_run) == (f.stop_reason, f.epochs_run) == (reason, r.epochs_run)
    np.testing.assert_allclose(r.loss_history, f.loss_history, rtol=1e-12)
    assert r.final_accuracy == f.final_accuracy


def test_a_distributed_divergence_is_fits_training_diverged(blobs):
    X, y = blobs
    kw = {"method": "analytic", "loss": "mse", "activation": "identity"}
    with pytest.raises(gd_torch.TrainingDiverged) as one:
        gd_torch.fit(X, y, alpha=10.0, epochs=200, seed=0, **kw)
    with pytest.raises(gd_torch.TrainingDiverged) as blocks:
        dist.run(
            dist.stepper(ooc.Arrays(X, y, 4096), seed=0, **kw), gd_torch.init_weights(3, seed=0), alpha=10.0, epochs=200
        )
    assert str(blocks.value) == str(one.value) and blocks.value.epoch == one.value.epoch


def test_a_failure_all_ranks_saw_is_printed_by_one(blobs):
    from gd_torch.distributed.comm import RankFailure, failure_line

    diverged = gd_torch.TrainingDiverged("training diverged", epoch=3, alpha=1.0, weights=None, loss_history=None)
    assert [failure_line(diverged, r) for r in range(3)] == ["gd-torch: error: training diverged", None, None]
    failed = RankFailure("rank 1 died", report=False, rank=1)
    assert failure_line(failed, 0) is None
    assert failure_line(GdTorchError("on this rank"), 2) == "gd-torch: error: on this rank"


def test_cli_workers_under_torchrun_is_refused_not_ignored(tmp_path, capsys, monkeypatch):
    from gd_torch.cli.app import main

    synthetic.make_data(10, 3, "float64", tmp_path / "d")
    monkeypatch.setenv("WORLD_SIZE", "2")  # as torchrun sets it for each rank
    assert main(["train", "--dataset", str(tmp_path / "d"), "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert err == "gd-torch: error: --workers must be left out under torchrun (it starts the ranks itself); got 2\n"
