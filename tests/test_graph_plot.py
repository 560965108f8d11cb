"""gd_torch.teach.graph_plot: the computational graph drawn with matplotlib, for the neuron and any stage list."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import gd_torch
from gd_torch import GdTorchError
from gd_torch.teach.graph_plot import (
    GraphStage,
    box_text,
    draw_explanation,
    draw_graph,
    layout,
    stages_from_explanation,
)


@pytest.fixture(scope="module")
def neuron(blobs):
    X, y = blobs
    return gd_torch.explain(gd_torch.init_weights(3, seed=0), X, y), X, y


def _ink(path) -> tuple[tuple[int, int], float, int]:
    # size, grey-level spread, number of distinct colours of the PNG
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"))
    # each pixel's colour as one integer r 2^16 + g 2^8 + b: a 1-d unique (unique rows, axis=0, took 1.5 s)
    packed = (rgb.astype(np.uint32) << np.array([16, 8, 0], np.uint32)).sum(axis=2)
    return im.size, float(rgb.std()), len(np.unique(packed))


def test_draws_the_one_neuron_explanation(neuron, tmp_path):
    result, X, y = neuron
    path = draw_explanation(result, tmp_path / "graph.png", X, y)
    assert path == tmp_path / "graph.png" and path.stat().st_size > 20_000
    size, spread, colours = _ink(path)
    assert size[0] >= 700 and size[1] >= 700
    assert spread > 10 and colours > 50  # boxes in four fills, text, arrows: not a blank canvas
    assert not list(tmp_path.glob(".*partial*"))  # written atomically


def test_the_neuron_reads_top_to_bottom_with_its_inputs_beside(neuron):
    result, X, y = neuron
    place = layout(stages_from_explanation(result, X, y))
    row = {n: r for n, (r, _) in place.items()}
    assert row["W"] == row["X"] == 0 and row["z"] == 1 and row["a"] == row["y"] == 2
    assert row["e"] == 3 and row["L"] == 4
    assert place["z"][1] == pytest.approx((place["W"][1] + place["X"][1]) / 2)  # z between its two parents


def test_each_box_shows_shape_value_and_gradient(neuron):
    result, X, y = neuron
    boxes = {s.name: box_text(s) for s in stages_from_explanation(result, X, y)}
    g = result.stage("W").hand
    assert "shape (3,)" in boxes["W"] and f"dL/dW  [{g[0]:.4g}, {g[1]:.4g}, {g[2]:.4g}]" in boxes["W"]
    dz = result.stage("z").hand
    assert "shape (250,)" in boxes["z"] and f"dL/dz  mean {dz.mean():.3g} [min {dz.min():.3g}" in boxes["z"]
    assert f"value  {float(result.stage('L').value):.6g}" in boxes["L"] and "shape ()" in boxes["L"]
    assert "no gradient (an input)" in boxes["X"] and "shape (250, 3)" in boxes["X"]
    assert all("autograd agrees, finite diff agrees" in boxes[n] for n in "LeazW")


def test_any_stage_list_draws_two_layers(rng, tmp_path):
    # h = tanh(X W1 + b1), a = sigmoid(h w2 + b2): branching, several inputs per stage
    def stage(name, shape, parents, formula, grad=True):
        v = rng.standard_normal(shape)
        return GraphStage(name, v, rng.standard_normal(shape) if grad else None, parents, formula)

    stages = [
        stage("X", (250, 3), (), "X", grad=False),
        stage("W1", (3, 4), (), "W1"),
        stage("b1", (4,), (), "b1"),
        stage("z1", (250, 4), ("X", "W1", "b1"), "z1 = X W1 + b1"),
        stage("h", (250, 4), ("z1",), "h = tanh(z1)"),
        stage("w2", (4,), (), "w2"),
        stage("b2", (), (), "b2"),
        stage("z2", (250,), ("h", "w2", "b2"), "z2 = h w2 + b2"),
        stage("a", (250,), ("z2",), "a = sigmoid(z2)"),
        stage("L", (), ("a",), "L = sum (a - y)^2"),
    ]
    place = layout(stages)
    assert place["w2"][0] == place["h"][0] == place["z2"][0] - 1 and place["L"][0] == 5
    size, spread, _ = _ink(draw_graph(stages, tmp_path / "two.png", title="two layers"))
    assert size[0] > size[1] / 2 and spread > 10


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ([], r"^stages must be a non-empty list of GraphStage"),
        (["z"], r"^stages must be GraphStage items only; got 'an item of type str'"),
        ([GraphStage("z", np.zeros(2), None, ("q",))], r"^parents of 'z' must be names of stages in the list \(z\)"),
        ([GraphStage("z", np.zeros(2), None), GraphStage("z", np.zeros(2), None)], r"^stages must be stages with"),
        (
            [GraphStage("a", np.zeros(2), None, ("b",)), GraphStage("b", np.zeros(2), None, ("a",))],
            r"^stages must be a graph without cycles .*got \"a cycle through \['a', 'b'\]\"",
        ),
        (
            [GraphStage("z", np.zeros(2), np.zeros(3))],
            r"^gradient of 'z' must have the stage's shape \(2,\); got \(3,\)",
        ),
    ],
)
def test_bad_stage_lists_are_refused(stages, message, tmp_path):
    with pytest.raises(GdTorchError, match=message):
        draw_graph(stages, tmp_path / "g.png")


def test_bad_path_and_result_are_refused(neuron, tmp_path):
    result, _, _ = neuron
    with pytest.raises(GdTorchError, match=r"^path must be a path ending in \.png"):
        draw_explanation(result, tmp_path / "g.svg")
    with pytest.raises(GdTorchError, match=r"^result must be an Explanation"):
        stages_from_explanation("L")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(GdTorchError, match=r"^could not write"):
        draw_explanation(result, blocker / "g.png")
