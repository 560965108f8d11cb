"""A table of bad command lines for every sub-command: exit 2, one line on stderr, no traceback.

Each case runs ``gd_torch.cli.app.main`` in-process, from an empty folder, and must:
exit 2, print nothing on stdout and exactly one line ``gd-torch: error: ...`` on stderr
(so no traceback, no warning), and leave the folder empty (no output folder or file left
behind).  A second test asserts that the line names the flag (``--alpha``, not the Python
parameter ``alpha``); CSV content errors name the file given to --dataset instead, with
the line and column.

Cases that fail today because of code outside the data modules are strict xfails, with
their owner in the reason.  Run with ``-s`` for the counts.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
from cli_run import main_within

COUNTS: Counter[str] = Counter()
DATA_COMMANDS = ("check", "explain", "landscape", "sweep", "train")

#: the CSV files the cases name as {key}; each holds one problem in the cell at line 3
CSV = {
    "good": "a,b,y\n1,2,0\n3,4,1\n5,1,1\n",
    "inf": "a,b,y\n1,2,0\n3,inf,1\n",
    "nan": "a,b,y\n1,2,0\n3,nan,1\n",
    "underscore": "a,b,y\n1,2,0\n1_000,4,1\n",
    "arabic": "a,b,y\n1,2,0\n\u0663,4,1\n",
    "duplicate": "a,y,y\n1,2,0\n3,4,1\n",
    "long": "a,y\n1,0\n" + "1" * 200_000 + ",1\n",
    "empty": "",
    "ragged": "a,b,y\n1,2,0\n3,4\n",
    "bom-text": "\ufeffa,b,y\n1,2,0\n3,x,1\n",
    "constant": "a,c,y\n1,5,0\n2,5,1\n",
    "huge": "a,y\n1e200,0\n-1e200,1\n",
}


def case(*argv: str, names: str, broken: str | None = None, unnamed: str | None = None):
    """One bad command line; ``names``: what its error line must contain (the flag, or the CSV file).

    broken: why it does not give one line and exit 2 today (owner); unnamed: why its line
    does not name the flag today (owner).
    """
    return argv, names, broken, unnamed


def data_cases() -> list[tuple]:
    # --dataset, --label, --drop, --standardize, --n-samples, --n-features, --data-seed, --dtype
    rows = [
        case("--n-samples", "0", names="--n-samples"),
        case("--n-samples", "-1", names="--n-samples"),
        case("--n-samples", "1.5", names="--n-samples"),
        case("--n-samples", "x", names="--n-samples"),
        case("--n-samples", "", names="--n-samples"),
        case("--n-samples", "1000000000000", names="--n-samples"),  # refused by _memory before make_blobs
        case("--n-features", "0", names="--n-features"),
        case("--n-features", "1000000000", names="--n-features"),
        case("--data-seed", "-1", names="--data-seed"),
        case("--data-seed", "4294967296", names="--data-seed"),
        case("--data-seed", "x", names="--data-seed"),
        case("--dtype", "float16", names="--dtype"),
        case("--dtype", "", names="--dtype"),
        case("--dataset", "iris", names="--dataset"),
        case("--dataset", "{missing}", "--label", "y", names="missing.csv"),
        case("--dataset", "{folder}", "--label", "y", names="folder.csv"),
        case("--dataset", "{fifo}", "--label", "y", names="fifo.csv"),
        case("--dataset", "{good}", names="--label"),
        case("--dataset", "{good}", "--label", "q", names="--label"),
        case("--label", "y", names="--label"),
        case("--drop", "a", names="--drop"),
        case("--dataset", "{good}", "--label", "y", "--drop", "q", names="--drop"),
        case("--dataset", "{good}", "--label", "y", "--drop", "a,b", names="--drop"),
        case("--dataset", "{constant}", "--label", "y", "--standardize", names="--standardize"),
        case("--bogus", names="--bogus"),
    ]
    rows += [case("--dataset", f"{{{k}}}", "--label", "y", names=f"{k}.csv") for k in CSV if k not in NOT_BAD]
    return rows


#: CSV files that are not bad for every command
NOT_BAD = ("good", "constant", "huge")


def _owner(who: str) -> str:
    return f"owner: {who}"


SPECIFIC: dict[str, list[tuple]] = {
    "check": [  # the data flags that pass today run the whole command: once here, not for all five
        case("--n-samples", "\uff15", names="--n-samples"),
        case("--n-samples", "1_000", names="--n-samples"),
        case("--n-sample", "5", names="--n-sample"),
        case("--methods", "analytic", names="--methods"),
        case("--methods", "analytic,foo", names="--methods"),
        case("--mode", "fast", names="--mode"),
        case("--device", "tpu", names="--device"),
        case("--device", "cuda:x", names="--device"),
        case("--seed", "-1", names="--seed"),
        case("--seed", "x", names="--seed"),
        case("--loss", "foo", names="--loss"),
        case("--activation", "swish", names="--activation"),
    ],
    "explain": [
        case("--loss", "foo", names="--loss"),
        case("--seed", "x", names="--seed"),
        case("--seed", "-1", names="--seed"),
        case("--dot", "{blocker}/g.dot", names="--dot"),
        case("--activation", "relu", "--loss", "bce", names="--activation"),
    ],
    "landscape": [
        case("--weights", "1", names="--weights"),
        case("--weights", "1,9", names="--weights"),
        case("--weights", "a,b", names="--weights"),
        case("--surfaces", "foo", names="--surfaces"),
        case("--resolution", "0", names="--resolution"),
        case("--resolution", "5", names="--resolution"),
        case("--resolution", "100000", names="--resolution"),
        case("--alpha", "0", names="--alpha"),
        case("--alpha", "nan", names="--alpha"),
        case("--epochs", "0", names="--epochs"),
        case("--method", "x", names="--method"),
        case("--out", "", names="--out"),
        case("--out", "{blocker}/x.png", names="--out"),
        case("--epoch", "3", names="--epoch"),
    ],
    "sweep": [
        case("--seeds", "0", names="--seeds"),
        case("--alphas", "0,x", names="--alphas"),
        case("--alphas", "-1", names="--alphas"),
        case("--alphas", "nan", names="--alphas"),
        case("--alphas", "0.1,0.1", names="--alphas"),
        case("--rules", "foo", names="--rules"),
        case("--rules", "analytic:hinge", names="--rules"),
        case("--rules", "analytic,analytic", names="--rules"),
        case("--epochs", "0", names="--epochs"),
        case("--batch-size", "0", names="--batch-size"),
        case("--epochs", "\uff15", "--seeds", "1", "--alphas", "0.1", "--no-plots", names="--epochs"),
        case("--out", "", "--seeds", "1", "--alphas", "0.1", "--epochs", "1", names="--out"),
    ],
    "train": [
        case("--epochs", "0", names="--epochs"),
        case("--epochs", "1.5", names="--epochs"),
        case("--epochs", "x", names="--epochs"),
        case("--alpha", "0", names="--alpha"),
        case("--alpha", "nan", names="--alpha"),
        case("--alpha", "inf", names="--alpha"),
        case("--alpha", "-1", names="--alpha"),
        case("--alpha", "x", names="--alpha"),
        case("--batch-size", "0", names="--batch-size"),
        case("--batch-size", "251", names="--batch-size"),
        case("--tol", "nan", names="--tol"),
        case("--patience", "0", names="--patience"),
        case("--method", "adam", names="--method"),
        case("--loss", "foo", names="--loss"),
        case("--activation", "swish", names="--activation"),
        case("--init", "ones", names="--init"),
        case("--device", "tpu", names="--device"),
        case("--seed", "-1", names="--seed"),
        case("--seed", "x", names="--seed"),
        case("--epochs", "\uff15", "--no-plots", names="--epochs"),
        case("--epochs", "1_0", "--no-plots", names="--epochs"),
        case("--epoch", "5", "--no-plots", names="--epoch"),
        case("--out", "", "--epochs", "1", names="--out"),
        case("--dataset", "{huge}", "--label", "y", "--epochs", "2", "--no-plots", names="diverged"),
    ],
    "bench": [
        case("--n", "0", names="--n"),
        case("--n", "x", names="--n"),
        case("--d", "1.5", names="--d"),
        case("--dtype", "float16", names="--dtype"),
        case("--methods", "foo", names="--methods"),
        case("--device", "tpu", names="--device"),
        case("--threads", "0", names="--threads"),
        case("--threads", "-1", names="--threads"),
        case("--min-run-time", "0", names="--min-run-time"),
        case("--budget", "nan", names="--budget"),
        case("--tag", "../x", names="--tag"),
        case("--seed", "-1", names="--seed"),
        case("--assemble", "{missing}l", names="--assemble"),
        case("--assemble", "{rows-malformed}", names="--assemble"),
        case("--assemble", "{rows-binary}", names="--assemble"),
        case("--bogus", names="--bogus"),
    ],
}  # fmt: skip

TOP = [case(names="COMMAND"), case("nope", names="COMMAND"), case("--bogus", names="COMMAND")]


def table() -> list[tuple]:
    rows = [((command, *argv), *rest) for command in DATA_COMMANDS for argv, *rest in data_cases()]
    rows += [((command, *argv), *rest) for command, cases in SPECIFIC.items() for argv, *rest in cases]
    return rows + TOP


def params(which: str) -> list:
    # which = 'one line': every case, xfail where broken; 'names': the cases not broken, xfail where unnamed
    out = []
    for argv, names, broken, unnamed in table():
        reason = broken if which == "one line" else unnamed
        if which == "names" and broken:
            continue
        marks = [pytest.mark.xfail(strict=True, reason=f"gd-torch {' '.join(argv)}: {reason}")] if reason else []
        out.append(pytest.param(list(argv), names, id=" ".join(a or "''" for a in argv)[:80], marks=marks))
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """{key}: path for every placeholder of the table."""
    folder = tmp_path_factory.mktemp("inputs")
    paths = {}
    for key, text in CSV.items():
        (folder / f"{key}.csv").write_text(text, encoding="utf-8")
        paths[key] = str(folder / f"{key}.csv")
    (folder / "folder.csv").mkdir()
    os.mkfifo(folder / "fifo.csv")
    (folder / "blocker").write_text("a file where a folder is expected")
    (folder / "rows-malformed.jsonl").write_text('{"kind": "gradient"}\n')
    (folder / "rows-binary.jsonl").write_bytes(b"\xff\xfe\x00\x81\n")
    for key in ("folder", "fifo", "blocker", "rows-malformed", "rows-binary"):
        paths[key] = str(next(folder.glob(f"{key}*")))
    paths["missing"] = str(folder / "missing.csv")
    return paths


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    kinds = ("tried", "one line, exit 2", "other")
    print("\nCLI fuzz:", ", ".join(f"{COUNTS[k]} {k}" for k in kinds))


@pytest.fixture
def run(tmp_path, monkeypatch, capsys, files):
    """Run a command line from an empty folder; (exit code, stdout, stderr), at most 60 s."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)

    def call(argv: list[str]) -> tuple[int, str, str]:
        argv = [a.format(**files) if "{" in a else a for a in argv]
        code = main_within(argv)  # a FIFO or a runaway allocation fails the test, not hangs the suite
        out, err = capsys.readouterr()
        return code, out, err

    call.folder = work  # type: ignore[attr-defined]
    return call


@pytest.mark.parametrize(("argv", "names"), params("one line"))
def test_bad_input_is_one_line_and_exit_2(run, argv, names):
    COUNTS["tried"] += 1
    try:
        code, out, err = run(argv)
        assert (code, out) == (2, ""), f"exit {code}, stdout {out[:300]!r}"
        assert err.startswith("gd-torch: error: ") and err.count("\n") == 1, err
        assert list(run.folder.iterdir()) == [], "files left behind"
    except BaseException:
        COUNTS["other"] += 1
        raise
    COUNTS["one line, exit 2"] += 1


@pytest.mark.parametrize(("argv", "names"), params("names"))
def test_the_line_names_the_flag(run, argv, names):
    code, _, err = run(argv)
    assert code == 2 and names in err, err
