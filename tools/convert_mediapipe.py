#!/usr/bin/env python3
"""Converts MediaPipe's face models (Apache-2.0, from the PyPI wheel mediapipe==0.10.14) to
safetensors for LipSync's Vision module.

  face_detection_short_range.tflite -> Models/blazeface_short_range.safetensors
  face_landmark.tflite              -> Models/facemesh.safetensors

The TFLite flatbuffer is read with the schema the wheel ships (mediapipe/tasks/metadata/
schema_py_generated.py). Weights are stored fp16 in the .tflite (behind DEQUANTIZE ops) and are kept
fp16 here, bit for bit. Layouts become PyTorch's: CONV_2D kernels OHWI -> OIHW, DEPTHWISE_CONV_2D
kernels 1HWC -> C1HW, PRELU alphas -> [C]. Tensor names are the TFLite layer names
(conv2d_3.weight, depthwise_conv2d_3.bias, p_re_lu_4.weight, ...), which Sources/Vision loads by name.

  python3 -m venv tools/.venv-mp && tools/.venv-mp/bin/pip install mediapipe==0.10.14
  tools/.venv-mp/bin/python tools/convert_mediapipe.py
"""
import json
import os

import mediapipe
import numpy as np
from mediapipe.tasks.metadata import schema_py_generated as S
from safetensors.numpy import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MP = os.path.dirname(mediapipe.__file__)
OPS = {v: k for k, v in S.BuiltinOperator.__dict__.items() if not k.startswith("_")}
TYPES = {S.TensorType.FLOAT32: np.float32, S.TensorType.FLOAT16: np.float16, S.TensorType.INT32: np.int32}


def convert(src, dst):
    buf = open(src, "rb").read()
    model = S.Model.GetRootAsModel(buf, 0)
    g = model.Subgraphs(0)

    def raw(i):
        t = g.Tensors(i)
        data = model.Buffers(t.Buffer()).DataAsNumpy()
        return np.frombuffer(data.tobytes(), dtype=TYPES[t.Type()]).reshape(t.ShapeAsNumpy())

    produced_by_dequantize = {}
    ops = []
    for i in range(g.OperatorsLength()):
        op = g.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = OPS[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        ins = [op.Inputs(j) for j in range(op.InputsLength())]
        outs = [op.Outputs(j) for j in range(op.OutputsLength())]
        if name == "DEQUANTIZE":
            produced_by_dequantize[outs[0]] = ins[0]
            continue
        ops.append((name, ins, outs))

    def weight(i):
        return raw(produced_by_dequantize.get(i, i))

    tensors, graph = {}, []
    for name, ins, outs in ops:
        out_name = g.Tensors(outs[0]).Name().decode()
        if name == "CONV_2D":
            layer = out_name
            tensors[f"{layer}.weight"] = np.ascontiguousarray(weight(ins[1]).transpose(0, 3, 1, 2))
            tensors[f"{layer}.bias"] = weight(ins[2])
        elif name == "DEPTHWISE_CONV_2D":
            layer = out_name
            tensors[f"{layer}.weight"] = np.ascontiguousarray(weight(ins[1]).transpose(3, 0, 1, 2))
            tensors[f"{layer}.bias"] = weight(ins[2])
        elif name == "PRELU":
            layer = out_name
            tensors[f"{layer}.weight"] = weight(ins[1]).reshape(-1)
        graph.append([name, out_name])
    tensors = {k: v.astype(np.float16) for k, v in tensors.items()}
    meta = {
        "source": f"mediapipe {mediapipe.__version__} wheel: {os.path.relpath(src, MP)}",
        "license": "Apache-2.0 (Copyright The MediaPipe Authors); see Models/MEDIAPIPE_LICENSE",
        "converter": "tools/convert_mediapipe.py",
        "graph": json.dumps(graph),
    }
    save_file(tensors, dst, metadata=meta)
    os.chmod(dst, 0o644)
    n = sum(v.size for v in tensors.values())
    print(f"{os.path.basename(dst)}: {len(tensors)} tensors, {n} parameters, {os.path.getsize(dst)} bytes")


def main():
    out = os.path.join(ROOT, "Models")
    os.makedirs(out, exist_ok=True)
    convert(os.path.join(MP, "modules/face_detection/face_detection_short_range.tflite"),
            os.path.join(out, "blazeface_short_range.safetensors"))
    convert(os.path.join(MP, "modules/face_landmark/face_landmark.tflite"), os.path.join(out, "facemesh.safetensors"))
    lic = os.path.join(os.path.dirname(MP), f"mediapipe-{mediapipe.__version__}.dist-info", "LICENSE")
    with open(lic) as f, open(os.path.join(out, "MEDIAPIPE_LICENSE"), "w") as o:
        o.write(f.read())


if __name__ == "__main__":
    main()
