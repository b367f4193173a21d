"""A tiny ONNX model with u2net's inputs and outputs, for tests of the ``auto`` mask.

Like rembg's ``u2net.onnx`` it takes one float32 image [1, 3, 320, 320] (normalized with the
ImageNet mean and std) and gives seven float32 maps [1, 1, 320, 320] in (0, 1), the first of
which rembg uses. Here every map is sigmoid(w . pixel + b) of a 1x1 convolution: with the
default weights dark pixels score high, so a dark object on a light background is "salient".
It is a real ONNX file run by onnxruntime through rembg, but it sees only brightness: never
present its masks as a salient-object network's.

    python tests/support/tiny_mask_model.py OUT.onnx
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIDE = 320
OUTPUTS = 7


def write_tiny_u2net(path: str | Path, weight: float = -1.0, bias: float = 0.0) -> Path:
    """Write the model to ``path``; ``weight`` 0 gives a flat map (no object anywhere)."""
    path = Path(path)
    w = numpy_helper.from_array(np.full((1, 3, 1, 1), weight, dtype=np.float32), "w")
    b = numpy_helper.from_array(np.array([bias], dtype=np.float32), "b")
    nodes = [
        helper.make_node("Conv", ["input.1", "w", "b"], ["score"]),
        helper.make_node("Sigmoid", ["score"], ["d0"]),
        *(helper.make_node("Identity", ["d0"], [f"d{i}"]) for i in range(1, OUTPUTS)),
    ]
    shape = [1, 3, SIDE, SIDE]
    graph = helper.make_graph(
        nodes, "tiny_u2net",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(f"d{i}", TensorProto.FLOAT, [1, 1, SIDE, SIDE])
         for i in range(OUTPUTS)],
        initializer=[w, b],
    )
    # An IR version and opset every onnxruntime of the last years reads.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/support/tiny_mask_model.py OUT.onnx")
    print(write_tiny_u2net(sys.argv[1]))
