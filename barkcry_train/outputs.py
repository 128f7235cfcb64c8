"""Edit which tensors a TFLite flatbuffer returns, weights untouched: the shipped int8 model gains its pooled
80-d vector (the global max pooling before the dense ``scores`` layer) as a second output, so the classifier
gets a window's embedding from the same invoke as its scores."""

from __future__ import annotations

import flatbuffers
import numpy as np
from tensorflow.lite.python import schema_py_generated as schema

EMBEDDING_TENSOR = "global_max_pooling1d"  # part of the pooled tensor's name in a Keras export
EMBEDDING_OUTPUT = "embedding"  # its name in the serving signature


def _load(tflite: bytes) -> schema.ModelT:
    return schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(tflite, 0))


def _pack(model: schema.ModelT) -> bytes:
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def tensor_names(tflite: bytes) -> list[str]:
    return [t.name.decode() for t in _load(tflite).subgraphs[0].tensors]


def with_output(tflite: bytes, tensor_name: str, signature_name: str = EMBEDDING_OUTPUT) -> bytes:
    """``tflite`` that also returns the tensor named ``tensor_name`` (as ``signature_name`` in its signature)."""
    m = _load(tflite)
    sg = m.subgraphs[0]
    names = [t.name.decode() for t in sg.tensors]
    if tensor_name not in names:
        raise ValueError(f"no tensor named {tensor_name!r} in the model")
    idx = names.index(tensor_name)
    if idx not in list(sg.outputs):
        sg.outputs = np.array([*sg.outputs, idx], dtype=np.int32)
        for sd in m.signatureDefs or []:
            tm = schema.TensorMapT()
            tm.name, tm.tensorIndex = signature_name.encode(), idx
            sd.outputs.append(tm)
    return _pack(m)


def without_output(tflite: bytes, tensor_name: str) -> bytes:
    """``tflite`` that no longer returns the tensor named ``tensor_name`` (a model from before the embedding)."""
    m = _load(tflite)
    sg = m.subgraphs[0]
    idx = [t.name.decode() for t in sg.tensors].index(tensor_name)
    sg.outputs = np.array([i for i in sg.outputs if i != idx], dtype=np.int32)
    for sd in m.signatureDefs or []:
        sd.outputs = [o for o in sd.outputs if o.tensorIndex != idx]
    return _pack(m)


def pooled_tensor(tflite: bytes) -> str:
    """The name of the pooled vector that feeds the dense layer."""
    found = [n for n in tensor_names(tflite) if EMBEDDING_TENSOR in n and "reduction_indices" not in n]
    if len(found) != 1:
        raise ValueError(f"expected one {EMBEDDING_TENSOR} tensor, found {found}")
    return found[0]
