"""A bad file gets the same reason whether training reads it from the prepared dataset or
predict reads it from disk, and no reason shows a Python object instead of the file."""

from pathlib import Path

import pytest

from rdjax import predict
from rdjax.data import datasets
from rdjax.data.decode import BadFileError
from tests.data import fixtures
from tests.data.fixtures import dataset_config


def test_training_and_predict_give_the_same_reasons(tmp_path):
    fixtures.write_mvtec(tmp_path / "src", "bottle")
    train = tmp_path / "src" / "bottle" / "train" / "good"
    fixtures.save(fixtures.rgb(7), train / "003.png")
    (train / "000.png").write_bytes(b"not an image at all")
    (train / "001.png").write_bytes(b"")
    fixtures.truncate(train / "002.png")
    split = datasets.load(dataset_config("mvtec", tmp_path / "src", "bottle", tmp_path / "cache",
                                         skip_bad_files=True), "train")
    in_training = {Path(s["path"]).name: s["reason"] for s in split.skipped_files}
    assert sorted(in_training) == ["000.png", "001.png", "002.png"]

    for name, reason in in_training.items():
        with pytest.raises(BadFileError) as e:
            predict.decode_native(train / name)
        in_predict = e.value.reason
        assert "BytesIO" not in reason and " at 0x" not in reason, reason
        if name == "001.png":  # the prepared dataset cannot tell a 0-byte file from an unreadable one
            assert in_predict == "empty file (0 bytes)" and reason.startswith(in_predict[:-1])
        else:
            assert reason == in_predict
    assert "not an image file" in in_training["000.png"]
    assert "truncated" in in_training["002.png"]
