"""TensorBoard event files written without TensorFlow: scalars and PNG images.

An event file is a sequence of TFRecords (``u64 length, u32 masked CRC-32C of the length,
payload, u32 masked CRC-32C of the payload``, little endian), each payload one serialized
``tensorboard.Event`` protocol buffer. Only the few fields rdjax writes are encoded here:

  Event   {double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5}
  Summary {repeated Value value = 1}
  Value   {string tag = 1; float simple_value = 2; Image image = 4}
  Image   {int32 height = 1; int32 width = 2; int32 colorspace = 3; bytes encoded_image_string = 4}

``tensorboard --logdir WORKDIR`` reads the files (``pip install tensorboard``; it does not need
TensorFlow either). tests/train/test_writers.py reads them back with TensorBoard's own loader.
"""

import io
import os
import socket
import struct
import time
from typing import Mapping

import numpy as np
from PIL import Image

_CRC32C_POLY = 0x82F63B78  # Castagnoli, reflected


def _crc32c_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CRC32C_POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tf_record(payload: bytes) -> bytes:
    length = struct.pack("<Q", len(payload))
    return (length + struct.pack("<I", _masked_crc(length)) + payload
            + struct.pack("<I", _masked_crc(payload)))


# Protocol buffer wire format: a key is (field_number << 3) | wire_type.
def _varint(value: int) -> bytes:
    value &= 0xFFFFFFFFFFFFFFFF  # negative int64 as two's complement, as protobuf does
    out = bytearray()
    while True:
        bits, value = value & 0x7F, value >> 7
        out.append(bits | 0x80 if value else bits)
        if not value:
            return bytes(out)


def _int_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _bytes_field(number: int, value: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _double_field(number: int, value: float) -> bytes:
    return _varint(number << 3 | 1) + struct.pack("<d", value)


def _float_field(number: int, value: float) -> bytes:
    return _varint(number << 3 | 5) + struct.pack("<f", value)


def _event(step: int, summary_values=(), file_version: str = "") -> bytes:
    event = _double_field(1, time.time()) + _int_field(2, step)
    if file_version:
        event += _bytes_field(3, file_version.encode())
    if summary_values:
        event += _bytes_field(5, b"".join(_bytes_field(1, v) for v in summary_values))
    return event


def scalar_value(tag: str, value: float) -> bytes:
    return _bytes_field(1, tag.encode()) + _float_field(2, float(value))


def image_value(tag: str, png: bytes, height: int, width: int, channels: int) -> bytes:
    image = (_int_field(1, height) + _int_field(2, width) + _int_field(3, channels)
             + _bytes_field(4, png))
    return _bytes_field(1, tag.encode()) + _bytes_field(4, image)


def encode_png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


class EventFileWriter:
    """Appends scalars and images to a new ``events.out.tfevents.*`` file in ``logdir``."""

    def __init__(self, logdir: str):
        os.makedirs(logdir, exist_ok=True)
        name = f"events.out.tfevents.{time.time():.6f}.{socket.gethostname()}.{os.getpid()}"
        self.path = os.path.join(logdir, name)
        self._file = open(self.path, "wb")
        self._file.write(tf_record(_event(0, file_version="brain.Event:2")))

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        values = [scalar_value(tag, v) for tag, v in scalars.items()]
        self._file.write(tf_record(_event(int(step), values)))

    def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
        """``images``: tag → (H, W, 3) or (H, W) uint8 array."""
        values = []
        for tag, image in images.items():
            image = np.asarray(image, np.uint8)
            channels = image.shape[2] if image.ndim == 3 else 1
            values.append(image_value(tag, encode_png(image), image.shape[0], image.shape[1],
                                      channels))
        self._file.write(tf_record(_event(int(step), values)))

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()
