"""Safe loading of weight files into numpy, without PyTorch.

Supported: PyTorch ``.pth``/``.pt`` (the zip format and the legacy non-zip
format), ``.safetensors`` and ``.npz``. The format is found from the file's
content, not its name.

PyTorch files are pickles. They are read by an unpickler that knows only the
few globals a state dict needs (the tensor-rebuild functions, storage classes,
dtypes and ``OrderedDict``), stands in its own harmless objects for them and
refuses every other global, so no code stored in a file is ever run.
"""

import collections
import dataclasses
import json
import os
import pickle
import struct
import zipfile
from typing import Any, Dict, Optional, Tuple

import ml_dtypes
import numpy as np

# Storage classes (``torch.FloatStorage`` ...) and the dtypes they hold.
_STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "BFloat16Storage": ml_dtypes.bfloat16, "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_, "ComplexFloatStorage": np.complex64,
    "ComplexDoubleStorage": np.complex128, "UntypedStorage": np.uint8,
}
# ``torch.<dtype>`` globals, passed to ``_rebuild_tensor_v3``.
_TORCH_DTYPES = {
    "float64": np.float64, "float32": np.float32, "float16": np.float16,
    "bfloat16": ml_dtypes.bfloat16, "int64": np.int64, "int32": np.int32, "int16": np.int16,
    "int8": np.int8, "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32,
    "uint64": np.uint64, "bool": np.bool_, "float8_e4m3fn": ml_dtypes.float8_e4m3fn,
    "float8_e5m2": ml_dtypes.float8_e5m2,
}
_SAFETENSORS_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": ml_dtypes.bfloat16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U64": np.uint64,
    "U32": np.uint32, "U16": np.uint16, "U8": np.uint8, "BOOL": np.bool_,
    "F8_E4M3": ml_dtypes.float8_e4m3fn, "F8_E5M2": ml_dtypes.float8_e5m2,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


class CheckpointError(ValueError):
    """A weight file that cannot be read, or that holds something other than weights."""


@dataclasses.dataclass(frozen=True)
class _DType:
    """Stand-in for a storage class or a ``torch.<dtype>`` global."""

    dtype: Any


@dataclasses.dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: Any
    numel: int
    view: Optional[Tuple[int, int]] = None  # legacy storage views: (offset, numel)


@dataclasses.dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    size: Tuple[int, ...]
    stride: Tuple[int, ...]
    dtype: Any  # differs from the storage's only for ``_rebuild_tensor_v3``


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None,
                       metadata=None):
    return _TensorRef(storage, offset, tuple(size), tuple(stride), storage.dtype)


def _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype,
                       metadata=None):
    return _TensorRef(storage, offset, tuple(size), tuple(stride), dtype.dtype)


def _rebuild_parameter(data, requires_grad=False, hooks=None):
    return data


_ALLOWED_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only allow-listed globals (to local stand-ins); refuses all others."""

    def __init__(self, file, path: str):
        super().__init__(file)
        self._path = path
        self.storages: Dict[str, _StorageRef] = {}

    def find_class(self, module, name):
        module = "builtins" if module == "__builtin__" else module  # protocol-2 spelling
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        if module in ("torch", "torch.storage") and name in _STORAGE_DTYPES:
            return _DType(_STORAGE_DTYPES[name])
        if module == "torch" and name in _TORCH_DTYPES:
            return _DType(_TORCH_DTYPES[name])
        raise CheckpointError(
            f"{self._path}: refusing to load global '{module}.{name}'. Only tensors, storages "
            f"and plain containers are allowed; this file may contain code.")

    def persistent_load(self, pid):
        # zip: ('storage', type, key, location, numel)
        # legacy: ('storage', type, key, location, numel, view_metadata)
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] in ("storage", b"storage")
                and isinstance(pid[1], _DType)):
            raise CheckpointError(f"{self._path}: unsupported persistent id {pid!r:.80}.")
        root = self.storages.setdefault(str(pid[2]), _StorageRef(str(pid[2]), pid[1].dtype,
                                                                 int(pid[4])))
        if len(pid) == 6 and pid[5] is not None:
            _, offset, numel = pid[5]
            return dataclasses.replace(root, view=(int(offset), int(numel)))
        return root


def _tensor_to_array(ref: _TensorRef, data: Dict[str, np.ndarray], byteorder: str,
                     path: str) -> np.ndarray:
    """Copy a (possibly strided) tensor view out of its storage, with bounds checks."""
    flat = data[ref.storage.key]
    if ref.storage.view is not None:
        start, numel = ref.storage.view
        flat = flat[start:start + numel]
    if ref.dtype != ref.storage.dtype:
        flat = flat.view(np.dtype(ref.dtype).newbyteorder(byteorder))
    size, stride, offset = ref.size, ref.stride, ref.offset
    native = np.dtype(ref.dtype)
    if any(n == 0 for n in size):
        return np.zeros(size, native)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if offset < 0 or min(stride, default=0) < 0 or last >= flat.size:
        raise CheckpointError(f"{path}: tensor view (offset {offset}, size {size}, stride "
                              f"{stride}) lies outside its storage of {flat.size} elements.")
    view = np.lib.stride_tricks.as_strided(
        flat[offset:], shape=size, strides=[s * flat.itemsize for s in stride], writeable=False)
    return np.array(view, dtype=native)


def _resolve(obj, data, byteorder, path):
    """Replace every ``_TensorRef`` in a nest of dicts/lists/tuples by its array."""
    if isinstance(obj, _TensorRef):
        return _tensor_to_array(obj, data, byteorder, path)
    if isinstance(obj, dict):
        return type(obj)((k, _resolve(v, data, byteorder, path)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(v, data, byteorder, path) for v in obj)
    return obj


def _storage_array(raw: bytes, ref: _StorageRef, byteorder: str, path: str) -> np.ndarray:
    dtype = np.dtype(ref.dtype).newbyteorder(byteorder)
    if len(raw) != ref.numel * dtype.itemsize:
        raise CheckpointError(f"{path}: storage {ref.key} has {len(raw)} bytes, expected "
                              f"{ref.numel} × {dtype.itemsize}.")
    return np.frombuffer(raw, dtype)


def _load_torch_zip(path: str, archive: zipfile.ZipFile):
    names = archive.namelist()
    pkl = [n for n in names if n == "data.pkl" or (n.endswith("/data.pkl") and n.count("/") == 1)]
    if len(pkl) != 1:
        raise CheckpointError(f"{path}: zip file is not a PyTorch checkpoint (no data.pkl).")
    prefix = pkl[0][:-len("data.pkl")]
    byteorder = "<"
    if prefix + "byteorder" in names:
        byteorder = {b"little": "<", b"big": ">"}[archive.read(prefix + "byteorder").strip()]
    with archive.open(pkl[0]) as f:
        unpickler = _RestrictedUnpickler(f, path)
        obj = unpickler.load()
    data = {}
    for key, ref in unpickler.storages.items():
        name = f"{prefix}data/{key}"
        if name not in names:
            raise CheckpointError(f"{path}: missing storage record {name}.")
        data[key] = _storage_array(archive.read(name), ref, byteorder, path)
    return _resolve(obj, data, byteorder, path)


def _load_torch_legacy(path: str):
    """Pickles: magic, protocol, sys_info, the object, storage keys; then raw storages."""
    with open(path, "rb") as f:
        try:
            magic = _RestrictedUnpickler(f, path).load()
        except (pickle.UnpicklingError, EOFError) as e:
            raise CheckpointError(f"{path}: not a recognised weight file ({e}).") from None
        if magic != _LEGACY_MAGIC:
            raise CheckpointError(f"{path}: not a PyTorch checkpoint (bad magic number).")
        if _RestrictedUnpickler(f, path).load() != _LEGACY_PROTOCOL:
            raise CheckpointError(f"{path}: unsupported legacy PyTorch protocol version.")
        _RestrictedUnpickler(f, path).load()  # sys_info; storages are little-endian
        unpickler = _RestrictedUnpickler(f, path)
        obj = unpickler.load()
        keys = _RestrictedUnpickler(f, path).load()
        data = {}
        for key in keys:
            ref = unpickler.storages[str(key)]
            (numel,) = struct.unpack("<q", f.read(8))
            itemsize = np.dtype(ref.dtype).itemsize
            ref = dataclasses.replace(ref, numel=numel)
            data[str(key)] = _storage_array(f.read(numel * itemsize), ref, "<", path)
    return _resolve(obj, data, "<", path)


def _load_safetensors(path: str) -> Dict[str, np.ndarray]:
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = np.dtype(_SAFETENSORS_DTYPES[info["dtype"]]).newbyteorder("<")
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        if end - begin != int(np.prod(shape)) * dtype.itemsize or 8 + n + end > len(raw):
            raise CheckpointError(f"{path}: tensor '{name}' has inconsistent offsets.")
        arr = np.frombuffer(raw, dtype, count=int(np.prod(shape)), offset=8 + n + begin)
        out[name] = arr.reshape(shape).astype(dtype.newbyteorder("="))
    return out


def _read_any(path: str):
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if names and all(n.endswith(".npy") for n in names):
                with np.load(path, allow_pickle=False) as npz:
                    return {k: npz[k] for k in npz.files}
            return _load_torch_zip(path, archive)
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) == 9 and head[8:9] == b"{":
        return _load_safetensors(path)
    return _load_torch_legacy(path)


def load_state_dict(path) -> Dict[str, np.ndarray]:
    """Read a weight file into ``{name: array}``, never executing pickled code.

    A top-level ``'state_dict'`` or ``'model'`` entry (a training checkpoint) is
    unwrapped. Raises ``FileNotFoundError`` or ``CheckpointError`` naming the file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Weight file not found: {path}")
    try:
        obj = _read_any(path)
    except (CheckpointError, FileNotFoundError):
        raise
    except Exception as e:  # truncated or corrupt files fail in many ways
        raise CheckpointError(f"{path}: cannot read weight file ({type(e).__name__}: {e}).") from e
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict of tensors, got {type(obj).__name__}.")
    bad = [k for k, v in obj.items() if not (isinstance(k, str) and isinstance(v, np.ndarray))]
    if bad:
        raise CheckpointError(f"{path}: entries that are not tensors: {bad[:5]}.")
    return dict(obj)
