"""checkpoint_io: torch zip/legacy pickles, safetensors and npz without torch; code is refused."""

import json
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest
import torch

from rdjax.models.checkpoint_io import CheckpointError, load_state_dict

FORMATS = {"zip": True, "legacy": False}


def tensors():
    base = torch.arange(48, dtype=torch.float32).reshape(6, 8)
    return {
        "f32": torch.randn(3, 4),
        "f16": torch.randn(5).half(),
        "bf16": torch.randn(2, 3).bfloat16(),
        "f64": torch.randn(2).double(),
        "i64": torch.arange(-3, 4, dtype=torch.int64),
        "u8": torch.arange(7, dtype=torch.uint8),
        "u16": torch.arange(5).to(torch.uint16)[1:],  # saved via _rebuild_tensor_v3
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 4),
        "transposed": base.t(),  # non-contiguous, shares base's storage
        "strided": base[1:5:2, 3::2],  # storage offset + strides
        "base": base,
        "conv": torch.randn(4, 3, 3, 3).permute(0, 2, 3, 1),  # channels-last strides
    }


def as_numpy(t):
    return t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy()


@pytest.mark.parametrize("fmt", FORMATS)
def test_torch_formats_round_trip(fmt, tmp_path):
    expected = tensors()
    path = tmp_path / "weights.pth"
    torch.save(expected, path, _use_new_zipfile_serialization=FORMATS[fmt])
    assert zipfile.is_zipfile(path) == FORMATS[fmt]

    loaded = load_state_dict(path)

    assert list(loaded) == list(expected)
    for key, tensor in expected.items():
        ours = loaded[key].astype(np.float32) if key == "bf16" else loaded[key]
        assert ours.dtype == as_numpy(tensor).dtype, key
        assert ours.shape == tuple(tensor.shape), key
        np.testing.assert_array_equal(ours, as_numpy(tensor), err_msg=key)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("wrapper", ["state_dict", "model"])
def test_training_checkpoint_is_unwrapped(fmt, wrapper, tmp_path):
    layer = torch.nn.Linear(3, 2)
    path = tmp_path / "checkpoint.pt"
    torch.save({wrapper: layer.state_dict(), "epoch": 3, "lr": 0.1}, path,
               _use_new_zipfile_serialization=FORMATS[fmt])
    loaded = load_state_dict(path)
    assert sorted(loaded) == ["bias", "weight"]
    np.testing.assert_array_equal(loaded["weight"], layer.weight.detach().numpy())


def test_parameters_are_read_as_arrays(tmp_path):
    layer = torch.nn.Linear(3, 2)
    path = tmp_path / "params.pth"
    torch.save({"weight": layer.weight, "bias": layer.bias}, path)  # nn.Parameter objects
    np.testing.assert_array_equal(load_state_dict(path)["weight"], layer.weight.detach().numpy())


def write_safetensors(path, arrays):
    dtypes = {np.float32: "F32", np.float16: "F16", np.int64: "I64"}
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, array in arrays.items():
        blob = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtypes[array.dtype.type], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def test_safetensors_and_npz(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"a.weight": rng.standard_normal((3, 4)).astype(np.float32),
              "a.half": rng.standard_normal(5).astype(np.float16),
              "a.count": np.arange(4, dtype=np.int64)}
    write_safetensors(tmp_path / "w.safetensors", arrays)
    np.savez(tmp_path / "w.npz", **arrays)
    for name in ("w.safetensors", "w.npz"):
        loaded = load_state_dict(tmp_path / name)
        assert sorted(loaded) == sorted(arrays)
        for key, value in arrays.items():
            assert loaded[key].dtype == value.dtype
            np.testing.assert_array_equal(loaded[key], value)


class RunsShell:
    def __init__(self, sentinel):
        self.sentinel = sentinel

    def __reduce__(self):
        return os.system, (f"touch {self.sentinel}",)


class CallsEval:
    def __init__(self, sentinel):
        self.sentinel = sentinel

    def __reduce__(self):
        return eval, (f"open({str(self.sentinel)!r}, 'w')",)


@pytest.mark.parametrize("payload, global_name", [(RunsShell, r"(posix|os)\.system"),
                                                  (CallsEval, r"builtins\.eval")])
@pytest.mark.parametrize("container", ["zip", "legacy", "plain pickle"])
def test_pickled_code_is_refused_not_run(payload, global_name, container, tmp_path):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    if container == "plain pickle":
        with open(path, "wb") as f:
            pickle.dump({"extra": payload(sentinel)}, f)
    else:
        torch.save({"weight": torch.zeros(2), "extra": payload(sentinel)}, path,
                   _use_new_zipfile_serialization=FORMATS[container])

    with pytest.raises(CheckpointError, match=global_name) as info:
        load_state_dict(path)
    assert str(path) in str(info.value)
    assert not sentinel.exists()


def test_corrupt_and_missing_files_name_the_file(tmp_path):
    path = tmp_path / "w.pth"
    torch.save({"w": torch.randn(16)}, path)
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp_path / "cut.pth", "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, data[:-4] if name.endswith("data/0") else data)
    with pytest.raises(CheckpointError, match="cut.pth.*storage"):
        load_state_dict(tmp_path / "cut.pth")

    (tmp_path / "junk.pth").write_bytes(b"\x00not a checkpoint at all")
    with pytest.raises(CheckpointError, match="junk.pth"):
        load_state_dict(tmp_path / "junk.pth")
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        load_state_dict(tmp_path / "absent.pth")
