"""load_csv and the CLI's --dataset FILE.csv: what is read, what is refused, and the memory it takes."""

from __future__ import annotations

import os
import re
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import gd_torch
from gd_torch import GdTorchError
from gd_torch.cli.app import main
from gd_torch.data import csv_read as _csv
from gd_torch.data.datasets import standardize


def write(tmp_path: Path, text: str, name: str = "d.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def raises(match: str):
    return pytest.raises(GdTorchError, match=match)


# ---- what is read -------------------------------------------------------------------------------


def test_round_trip_with_blank_lines_quotes_and_no_final_newline(tmp_path):
    path = write(tmp_path, 'a, b ,label\n1,2,0\n"3.5",-4,1\n\n+5,6E2, .5 \n.25,-1.e-1,1')
    X, y = gd_torch.load_csv(path, "label")
    np.testing.assert_array_equal(X, [[1, 2], [3.5, -4], [5, 600], [0.25, -0.1]])
    np.testing.assert_array_equal(y, [0, 1, 0.5, 1])
    assert X.flags.c_contiguous and X.flags.writeable


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_parsed_straight_into_the_final_dtype(tmp_path, dtype):
    path = write(tmp_path, "a,y\n0.1,1\n")
    X, y = gd_torch.load_csv(path, "y", dtype=dtype)
    assert X.dtype == y.dtype == np.dtype(dtype)
    assert X[0, 0] == np.asarray(0.1, dtype=dtype)  # rounded once, from the text


def test_a_utf8_byte_order_mark_is_skipped(tmp_path):
    path = write(tmp_path, "\ufeffy,a\n1,2\n0,3\n")
    X, y = gd_torch.load_csv(path, "y")
    np.testing.assert_array_equal(y, [1, 0])


@pytest.mark.parametrize("ending", ["\r\n", "\r"])
def test_windows_and_old_mac_line_endings(tmp_path, ending):
    # '\r' alone: no '\n' to count, so the first-pass row estimate is 1 and X grows
    path = write(tmp_path, ending.join(["a,y", "1,0", "2,1", "3,0"]) + ending)
    X, y = gd_torch.load_csv(path, "y")
    np.testing.assert_array_equal(X[:, 0], [1, 2, 3])
    np.testing.assert_array_equal(y, [0, 1, 0])


def test_many_blocks(tmp_path, monkeypatch, rng):
    monkeypatch.setattr(_csv, "BLOCK_CELLS", 7)  # blocks of 2 rows of 3 columns, and a last one of 1
    A = rng.standard_normal((9, 3))
    path = write(tmp_path, "a,b,y\n" + "".join(f"{a!r},{b!r},{c!r}\n" for a, b, c in A.tolist()))
    X, y = gd_torch.load_csv(path, "y")
    np.testing.assert_array_equal(X, A[:, :2])
    np.testing.assert_array_equal(y, A[:, 2])


# ---- files that are not regular -------------------------------------------------------------------


def test_a_directory_is_refused(tmp_path):
    with raises(r"^csv file '.*' cannot be read: it is a directory$"):
        gd_torch.load_csv(tmp_path, "y")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            gd_torch.load_csv(fifo, "y")
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    t = threading.Thread(target=read, daemon=True)  # opening a FIFO for reading blocks until a writer comes
    t.start()
    t.join(timeout=20)
    assert not t.is_alive(), "load_csv blocked on a FIFO"
    assert isinstance(outcome[0], GdTorchError)
    assert re.match(r"^csv file '.*pipe.csv' cannot be read: it is not a regular file \(a FIFO", str(outcome[0]))


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_is_refused():
    with raises(r"^csv file '/dev/zero' cannot be read: it is not a regular file"):
        gd_torch.load_csv("/dev/zero", "y")


def test_not_utf8(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"a,y\n1,0\n\xff\xfe,1\n")
    with raises(r"^csv file '.*' cannot be read: it is not UTF-8 text \(byte 0xff\)$"):
        gd_torch.load_csv(path, "y")


def test_a_nul_byte(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"a,y\n1,0\n2\x00,1\n")
    with raises(r"^csv file '.*' must hold plain decimal numbers only .*; line 3, column 'a' holds '2\\x00'$"):
        gd_torch.load_csv(path, "y")


def test_a_field_over_the_csv_modules_limit(tmp_path):
    path = write(tmp_path, "a,y\n1,0\n" + "1" * 200_000 + ",1\n")
    with raises(r"^csv file '.*' cannot be parsed: a field of line 3 is longer than 131072 characters"):
        gd_torch.load_csv(path, "y")


# ---- header -----------------------------------------------------------------------------------------


def test_duplicate_header_names_are_refused(tmp_path):
    path = write(tmp_path, "a,y,b, y\n1,0,2,1\n")
    with raises(r"^csv file '.*' must have distinct header names; 'y' names columns \[2, 4\]$"):
        gd_torch.load_csv(path, "y")


def test_a_wide_header_is_shortened_in_the_message(tmp_path):
    path = write(tmp_path, ",".join(f"c{j}" for j in range(100)) + "\n" + ",".join("1" * 100) + "\n")
    with raises(r"'c19'\] and 80 more; got 'y'$"):
        gd_torch.load_csv(path, "y")


# ---- cells ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell",
    ["1_000", "\u0661\u0662", "\uff15", "0x10", "1e", "1.2.3", "--1", "", " ", "one", "1,5", "infinity x", "\u00a01"],
)
def test_only_plain_decimal_numbers(tmp_path, cell):
    path = write(tmp_path, f'a,b,y\n1,2,0\n3,"{cell}",1\n')
    with raises(
        rf"^csv file '.*' must hold plain decimal numbers only .*; line 3, column 'b' holds {re.escape(repr(cell))}$"
    ):
        gd_torch.load_csv(path, "y")


@pytest.mark.parametrize("cell", ["nan", "NaN", "-nan", "inf", "-Infinity", "1e999"])
def test_non_finite_cells_are_x_must_be_finite(tmp_path, cell):
    path = write(tmp_path, f"a,b,y\n1,2,0\n3,{cell},1\n")
    message = rf"^X must be finite: row 1 of X \(line 3, column 'b' of csv file '.*'\) holds '{re.escape(cell)}'$"
    with raises(message):
        gd_torch.load_csv(path, "y")


def test_non_finite_label(tmp_path):
    path = write(tmp_path, "a,y\n1,0\n2,0\n3,inf\n")
    with raises(r"^y must be finite: row 2 of y \(line 4, column 'y' of csv file '.*'\) holds 'inf'$"):
        gd_torch.load_csv(path, "y")


def test_beyond_float32(tmp_path):
    path = write(tmp_path, "a,y\n1,0\n-1e39,1\n")
    with raises(r"^X must be within the range of float32 \(\|value\| <= 3.403e\+38; read it as float64\): row 1 of X"):
        gd_torch.load_csv(path, "y", dtype="float32")
    X, _ = gd_torch.load_csv(path, "y")  # fine in float64
    assert X[1, 0] == -1e39


# ---- arguments ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((3, "y"), {}, r"^path must be the path of a CSV file \(a str or pathlib.Path\); got 3$"),
        ((b"d.csv", "y"), {}, r"^path must be the path of a CSV file .*; got b'd.csv'$"),
        ((None, "y"), {}, r"^path must be .*; got None$"),
        (("d.csv", 0), {}, r"^label must be the header name of the label column \(a str\); got 0$"),
        (
            ("d.csv", "y"),
            {"drop": "a"},
            r"^drop must be a list of header names \(a list, even for one name\); got 'a'$",
        ),
        (("d.csv", "y"), {"drop": [1]}, r"^drop must be a list of header names \(str\); got \[1\]$"),
        (("d.csv", "y"), {"standardize": "yes"}, r"^standardize must be True or False; got 'yes'$"),
        (("d.csv", "y"), {"dtype": "float16"}, r"^dtype must be 'float32' or 'float64'; got 'float16'$"),
    ],
)
def test_wrong_argument_types(tmp_path, monkeypatch, args, kwargs, message):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "a,y\n1,0\n")
    with raises(message):
        gd_torch.load_csv(*args, **kwargs)


def test_drop(tmp_path):
    path = write(tmp_path, 'id,a,name,y,b\n7,1,foo bar,0,2\n8,3,"x,y",1,4\n')
    X, y = gd_torch.load_csv(path, "y", drop=["id", "name"])
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(y, [0, 1])


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        (
            ["nope"],
            r"^drop must be names of the csv header's columns \['id', 'a', 'y'\] other than the label 'y'; got 'nope'$",
        ),
        (["y"], r"^drop must be names .* other than the label 'y'; got 'y'$"),
        (["id", "a"], r"^csv file '.*' must keep at least one feature column; all are dropped$"),
    ],
)
def test_bad_drop(tmp_path, drop, message):
    path = write(tmp_path, "id,a,y\n1,2,0\n")
    with raises(message):
        gd_torch.load_csv(path, "y", drop=drop)


# ---- standardize ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_standardize(tmp_path, rng, dtype):
    A = rng.standard_normal((50, 3)) * [1.0, 1e3, 1e300] + [5.0, -2e3, 1e300]  # 1e300: no overflow in the variance
    path = write(tmp_path, "a,b,c,y\n" + "".join(f"{a!r},{b!r},{c!r},1\n" for a, b, c in A.tolist()))
    X, _ = gd_torch.load_csv(path, "y", standardize=True, dtype="float64")
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-14)
    np.testing.assert_allclose(X.std(axis=0), 1, rtol=1e-14)
    Z = standardize(A[:, :2].astype(dtype))
    assert Z.dtype == np.dtype(dtype)
    np.testing.assert_allclose(Z, (A[:, :2] - A[:, :2].mean(0)) / A[:, :2].std(0), rtol=1e-5, atol=1e-5)


def test_standardize_refuses_a_constant_column_by_name(tmp_path):
    path = write(tmp_path, "a,c,y\n1,5,0\n2,5,1\n")
    with raises(r"^standardize needs no constant column: column 'c' holds 5.0 in every row"):
        gd_torch.load_csv(path, "y", standardize=True)
    with raises(r"^standardize needs no constant column: column 1 holds"):
        standardize(np.array([[1.0, 2.0], [3.0, 2.0]]))


@pytest.mark.parametrize("bad", [np.ones(3), np.array([[1.0, np.nan], [2.0, 3.0]]), np.ones((2, 2), np.float16)])
def test_standardize_checks_X(bad):
    with raises(r"^X must be "):
        standardize(bad)


# ---- memory -------------------------------------------------------------------------------------------


def test_peak_memory_is_a_small_multiple_of_the_file(tmp_path, monkeypatch, rng):
    # 16 columns x 4000 rows of 19-character numbers (~1.3 MB); the old reader held the whole
    # file as lists of str and of float (~10x); blocks of 4096 cells keep the extra small
    monkeypatch.setattr(_csv, "BLOCK_CELLS", 4096)
    A = rng.standard_normal((4000, 16))
    path = write(
        tmp_path, ",".join(f"c{j}" for j in range(15)) + ",y\n" + "\n".join(",".join(map(repr, r)) for r in A.tolist())
    )
    size = path.stat().st_size
    tracemalloc.start()
    try:
        X, y = gd_torch.load_csv(path, "y")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert X.nbytes + y.nbytes == A.nbytes
    assert peak < 1.5 * size, f"peak {peak} bytes for a file of {size}"


def test_a_file_too_big_for_memory_is_refused_before_allocating(tmp_path, monkeypatch):
    monkeypatch.setattr("gd_torch.base.memory.available_bytes", lambda: 1000)
    path = write(tmp_path, "a,b,y\n" + "1,2,0\n" * 100)
    with raises(
        r"^csv file '.*' read as float64 \(up to 100 rows x 2 features and y\) needs about 2.3 KiB but 1000 bytes is available; lower its rows or columns"
    ):
        gd_torch.load_csv(path, "y")


# ---- the CLI ------------------------------------------------------------------------------------------


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_drop_and_standardize(tmp_path, capsys, rng):
    A = rng.standard_normal((40, 2))
    lines = [f"{i},{a!r},row {i},{b * 100!r},{int(a > 0)}" for i, (a, b) in enumerate(A.tolist())]
    path = write(tmp_path, "id,x1,note,x2,y\n" + "\n".join(lines) + "\n")
    code, out, err = run(capsys, "check", "--dataset", str(path), "--label", "y", "--drop", "id,note", "--standardize")
    assert code == 0 and err == "", err
    assert f"{path} (40 x 2, label 'y', dropped id, note, features standardized), bias column first" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--drop", "nope"],
            r"--drop must be names of the csv header's columns \['id', 'a', 'c', 'y'\] other than the label 'y'; got 'nope'",
        ),
        (["--drop", "y"], r"--drop must be names .*; got 'y'"),
        (["--drop", "id,a,c"], r"--drop: csv file '.*' must keep at least one feature column"),
        (["--drop", "id", "--standardize"], r"--standardize needs no constant column: column 'c' holds 5.0"),
        (["--label", "z"], r"--label column must be one of the csv header's columns \['id', 'a', 'c', 'y'\]; got 'z'"),
        ([], r"csv file '.*' must hold plain decimal numbers only .*column 'id' holds 'x1'"),
    ],
)
def test_cli_csv_errors_name_their_flag(tmp_path, capsys, argv, message):
    path = write(tmp_path, "id,a,c,y\nx1,1,5,0\nx2,2,5,1\n")
    argv = ["--label", "y", *argv] if "--label" not in argv else argv
    code, out, err = run(capsys, "check", "--dataset", str(path), *argv)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert re.match(rf"^gd-torch: error: {message}", err), err


def test_cli_a_label_only_csv_is_the_files_fault_not_drops(tmp_path, capsys):
    path = tmp_path / "label.csv"
    path.write_text("y\n0\n1\n")
    assert main(["check", "--dataset", str(path), "--label", "y"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"gd-torch: error: csv file {str(path)!r} must have at least one feature column beside the label 'y'; "
        "its header has only ['y']\n"
    )


def test_cli_drop_only_with_a_csv(capsys):
    code, _, err = run(capsys, "check", "--drop", "id")
    assert code == 2 and re.match(r"^gd-torch: error: --drop must be given only with a CSV --dataset; got 'id'$", err)


def test_cli_standardize_blobs(capsys):
    code, out, _ = run(capsys, "check", "--standardize")
    assert code == 0 and "bias column first, features standardized" in out


def test_cli_blobs_too_big_for_memory(capsys):
    code, out, err = run(capsys, "check", "--n-samples", "1000000000", "--n-features", "100000")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert re.match(
        r"^gd-torch: error: the blobs \(X of 1000000000 x 100001 float64 and y\) needs about 2235\d{3}\.\d GiB "
        r"but [\d.]+ [GMK]iB is available; lower --n-samples or --n-features$",
        err,
    ), err


def test_cli_fifo(tmp_path, capsys):
    fifo = tmp_path / "p.csv"
    os.mkfifo(fifo)
    code, _, err = run(capsys, "check", "--dataset", str(fifo), "--label", "y")
    assert code == 2 and "cannot be read: it is not a regular file" in err
