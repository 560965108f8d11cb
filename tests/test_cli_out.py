"""--out DIR, the same in every command: named files inside DIR, every path printed, earlier runs'
files of the same command replaced or removed, one run at a time, nothing half written."""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path

import pytest

from gd_torch.cli.app import main

#: each command with quick options, and the files it writes with them
COMMANDS = {
    "train": (["--epochs", "3"], ["boundary.gif", "boundary.png", "loss.png"]),
    "sweep": (["--alphas", "0.1", "--seeds", "2", "--epochs", "3"], ["heatmap.png"]),
    "landscape": (["--epochs", "2", "--resolution", "8"], ["landscape.png"]),
    "explain": ([], ["graph.dot", "graph.png"]),
}


def run_cli(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def wrote(out: str) -> list[str]:
    return re.findall(r"^(?:wrote|graph written to) (\S+)", out, flags=re.M)


def listing(folder: Path) -> list[str]:
    # everything in the folder, hidden files included: no temporary or staging folder may remain
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("command", list(COMMANDS))
def test_out_is_a_folder_of_named_files_and_every_path_is_printed(command, tmp_path, capsys):
    argv, files = COMMANDS[command]
    out_dir = tmp_path / "new" / "nested"
    rc, out, err = run_cli(capsys, command, *argv, "--out", str(out_dir))
    assert rc == 0, err
    assert listing(out_dir) == files
    assert sorted(wrote(out)) == sorted(str(out_dir / f) for f in files)


@pytest.mark.parametrize("command", ["train", "sweep", "landscape"])
def test_default_out_is_a_fresh_folder_in_the_current_directory(command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv, files = COMMANDS[command]
    rc, out, err = run_cli(capsys, command, *argv)
    assert rc == 0, err
    (folder,) = tmp_path.iterdir()
    assert re.fullmatch(rf"gd-torch-{command}-\d{{8}}-\d{{6}}", folder.name)
    assert listing(folder) == files
    assert sorted(wrote(out)) == sorted(f"{folder.name}/{f}" for f in files)


def test_explain_writes_files_only_when_asked(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, _ = run_cli(capsys, "explain")
    assert rc == 0 and list(tmp_path.iterdir()) == [] and "written" not in out
    rc, out, _ = run_cli(capsys, "explain", "--dot", "g.gv", "--out", "o")
    assert rc == 0 and (tmp_path / "g.gv").read_text().startswith("digraph")
    assert "graph written to g.gv (render: dot -Tpng g.gv -o graph.png)" in out
    assert "graph written to o/graph.dot (render: dot -Tpng o/graph.dot -o graph.png)" in out


@pytest.mark.parametrize("name", ["graph.png", "graph", "graph.dot.png"])
def test_explain_refuses_a_dot_file_named_like_a_picture(name, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run_cli(capsys, "explain", "--dot", name)
    assert rc == 2 and out == "" and list(tmp_path.iterdir()) == []
    assert err == (
        f"gd-torch: error: --dot must be a file name ending in .dot or .gv (Graphviz source; "
        f"dot -Tpng FILE.dot -o graph.png draws it); got '{name}'\n"
    )


def test_a_rerun_removes_the_files_of_this_command_it_does_not_write(tmp_path, capsys):
    o = tmp_path / "o"
    assert run_cli(capsys, "train", "--epochs", "3", "--out", str(o))[0] == 0
    assert run_cli(capsys, "sweep", *COMMANDS["sweep"][0], "--out", str(o))[0] == 0
    (o / "notes.txt").write_text("mine")
    # no boundary for 30 features: the first run's boundary pictures must not stay, looking current
    rc, out, _ = run_cli(capsys, "train", "--epochs", "3", "--dataset", "breast-cancer", "--out", str(o))
    assert rc == 0
    assert listing(o) == ["heatmap.png", "loss.png", "notes.txt"]  # sweep's and the user's files are kept
    assert wrote(out) == [str(o / "loss.png")]
    assert f"removed {o / 'boundary.png'} (an earlier run's; this run does not write it)" in out
    assert f"removed {o / 'boundary.gif'} (an earlier run's; this run does not write it)" in out
    # --no-plots into the folder: train's pictures go, nothing else does
    rc, out, _ = run_cli(capsys, "train", "--epochs", "3", "--no-plots", "--out", str(o))
    assert rc == 0 and listing(o) == ["heatmap.png", "notes.txt"]
    assert wrote(out) == [] and f"removed {o / 'loss.png'}" in out


def test_a_second_run_into_a_locked_folder_refuses_at_once(tmp_path, capsys):
    o = tmp_path / "o"
    assert run_cli(capsys, "landscape", *COMMANDS["landscape"][0], "--out", str(o))[0] == 0
    before = (o / "landscape.png").read_bytes()
    fd = os.open(o, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a running gd-torch holds
        for command, (argv, _) in COMMANDS.items():
            rc, out, err = run_cli(capsys, command, *argv, "--out", str(o))
            assert rc == 2 and out == "", command
            assert err == (
                f"gd-torch: error: --out folder '{o}' is in use by another gd-torch run; "
                "wait for it or choose another --out\n"
            )
    finally:
        os.close(fd)
    assert listing(o) == ["landscape.png"] and (o / "landscape.png").read_bytes() == before
    assert run_cli(capsys, "landscape", *COMMANDS["landscape"][0], "--out", str(o))[0] == 0  # released


def test_stale_temporaries_are_removed_and_planted_links_not_followed(tmp_path, capsys):
    o = tmp_path / "o"
    o.mkdir()
    (o / ".boundary.4242-deadbeef.partial.gif").write_bytes(b"GIF89a half")
    stage = o / ".gd-torch-train.4242-deadbeef.partial"
    stage.mkdir()
    (stage / "loss.png").write_bytes(b"half")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (o / "loss.png").symlink_to(victim)
    (o / ".x.1-abc.partial.png").symlink_to(victim)  # a link is never a temporary of ours: left alone
    rc, _, err = run_cli(capsys, "train", "--epochs", "3", "--out", str(o))
    assert rc == 0, err
    assert victim.read_text() == "keep me"
    assert not (o / "loss.png").is_symlink() and (o / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert listing(o) == [".x.1-abc.partial.png", "boundary.gif", "boundary.png", "loss.png"]


def test_the_users_own_names_with_partial_in_them_are_left_alone(tmp_path, capsys):
    # only the names gd_torch gives its temporaries are removed; the user's hidden files and
    # folders whose names hold ".partial" are theirs
    o = tmp_path / "o"
    (o / ".cache.partial" / "sub").mkdir(parents=True)
    (o / ".cache.partial" / "sub" / "keep.txt").write_text("mine")
    (o / ".notes.partial.txt").write_text("mine")
    (o / ".gd-torch-train.partial").mkdir()  # no pid-hex: not a name gd_torch makes
    (o / ".loss.7-0123abcd.partial.png").write_bytes(b"half")  # a killed run's temporary
    rc, _, err = run_cli(capsys, "landscape", *COMMANDS["landscape"][0], "--out", str(o))
    assert rc == 0, err
    assert (o / ".cache.partial" / "sub" / "keep.txt").read_text() == "mine"
    assert (o / ".notes.partial.txt").read_text() == "mine"
    assert listing(o) == [".cache.partial", ".gd-torch-train.partial", ".notes.partial.txt", "landscape.png"]


def test_a_failed_run_leaves_the_previous_files_as_they_were(tmp_path, capsys):
    o = tmp_path / "o"
    assert run_cli(capsys, "train", "--epochs", "3", "--out", str(o))[0] == 0
    before = {name: (o / name).read_bytes() for name in listing(o)}
    rc, out, err = run_cli(capsys, "train", "--activation", "identity", "--alpha", "1", "--out", str(o))
    assert rc == 2 and "diverged" in err and "wrote" not in out
    assert {name: (o / name).read_bytes() for name in listing(o)} == before


def test_a_write_that_fails_part_way_leaves_the_previous_run_whole(tmp_path, capsys, monkeypatch):
    # the disk fills while the GIF is written: loss.png and boundary.png of the new run are already
    # written (to the staging folder); the folder keeps the first run's three files, none of the new
    from PIL import Image

    o = tmp_path / "o"
    assert run_cli(capsys, "train", "--epochs", "2", "--out", str(o))[0] == 0
    before = {name: (o / name).read_bytes() for name in listing(o)}

    real_save = Image.Image.save

    def full_disk(self, fp, *args, **kwargs):
        if kwargs.get("format") != "GIF":
            return real_save(self, fp, *args, **kwargs)
        Path(fp).write_bytes(b"GIF89a")  # a truncated start, then the error
        raise OSError(27, "File too large")

    monkeypatch.setattr(Image.Image, "save", full_disk)
    rc, out, err = run_cli(capsys, "train", "--epochs", "4", "--seed", "1", "--out", str(o))
    assert rc == 2 and "wrote" not in out
    assert err == f"gd-torch: error: could not write '{o / 'boundary.gif'}': File too large\n"
    assert {name: (o / name).read_bytes() for name in listing(o)} == before


@pytest.mark.parametrize("command", list(COMMANDS))
def test_out_that_is_a_file_or_empty_is_refused(command, tmp_path, capsys):
    argv, _ = COMMANDS[command]
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    rc, out, err = run_cli(capsys, command, *argv, "--out", str(blocker))
    assert rc == 2 and out == ""
    assert err == f"gd-torch: error: --out must be a folder; got '{blocker}', which is a file\n"
    rc, out, err = run_cli(capsys, command, *argv, "--out", "")
    assert rc == 2 and err == "gd-torch: error: --out must be a folder path; got ''\n"


def test_out_that_is_a_dangling_link_is_refused_naming_it(tmp_path, capsys):
    link = tmp_path / "o"
    link.symlink_to(tmp_path / "absent")
    rc, out, err = run_cli(capsys, "landscape", *COMMANDS["landscape"][0], "--out", str(link))
    target = str(tmp_path / "absent")
    assert rc == 2 and out == ""
    assert (
        err
        == f"gd-torch: error: --out must be a folder; got {str(link)!r}, a symbolic link to {target!r}, which does not exist\n"
    )
    assert not (tmp_path / "absent").exists() and link.is_symlink()


def test_explain_dot_is_written_atomically_never_through_a_link(tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    dot = tmp_path / "g.dot"
    dot.symlink_to(victim)
    rc, _, err = run_cli(capsys, "explain", "--dot", str(dot))
    assert rc == 0, err
    assert victim.read_text() == "keep me" and not dot.is_symlink() and dot.read_text().startswith("digraph")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.dot", "victim.txt"]  # no temporary left


def test_explain_dot_with_hidden_says_what_is_accepted(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run_cli(capsys, "explain", "--hidden", "3", "--dot", "g.dot")
    assert rc == 2 and out == "" and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith("gd-torch: error: --dot is not available with --hidden; got --dot 'g.dot' with --hidden 3")
    assert "must be no" not in line and "drop --hidden" in line and "--out DIR" in line
    assert list(tmp_path.iterdir()) == []
