"""The GGUF transfer pack: kept embedding rows come back byte for byte, dropped ones as zeros, the rest intact."""

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

from lease.gguf_transfer import pack, unpack, used_token_ids  # noqa: E402


@pytest.fixture
def tiny_gguf(tmp_path):
    rng = np.random.default_rng(0)
    embedding = rng.standard_normal((10, 8)).astype(np.float32)  # 10 tokens, 8 dims
    other = rng.standard_normal((3, 8)).astype(np.float32)
    path = tmp_path / "tiny.gguf"
    writer = gguf.GGUFWriter(str(path), "gemma3")
    writer.add_tensor("token_embd.weight", embedding)
    writer.add_tensor("blk.0.attn_q.weight", other)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path, embedding, other


def tensors(path):
    return {t.name: np.array(t.data) for t in gguf.GGUFReader(str(path)).tensors}


def test_round_trip_keeps_used_rows_and_zeroes_the_rest(tiny_gguf, tmp_path):
    path, embedding, other = tiny_gguf
    manifest = pack(path, {1, 3, 9}, tmp_path / "pack", chunk_bytes=100)
    assert len(manifest["chunks"]) > 1 and manifest["row_bytes"] == 8 * 4
    # chunks split over two folders, as two transfers would leave them
    second = tmp_path / "second"
    second.mkdir()
    for name in manifest["chunks"][1::2]:
        (tmp_path / "pack" / name).rename(second / name)
    rebuilt = unpack([tmp_path / "pack", second], tmp_path / "out" / "model.gguf")
    assert rebuilt.stat().st_size == path.stat().st_size
    got = tensors(rebuilt)
    expected = np.zeros_like(embedding)
    expected[[1, 3, 9]] = embedding[[1, 3, 9]]
    np.testing.assert_array_equal(got["token_embd.weight"], expected)
    np.testing.assert_array_equal(got["blk.0.attn_q.weight"], other)


def test_unpack_rejects_a_corrupted_chunk(tiny_gguf, tmp_path):
    path, _, _ = tiny_gguf
    manifest = pack(path, {0}, tmp_path / "pack", chunk_bytes=10**6)
    chunk = tmp_path / "pack" / manifest["chunks"][0]
    data = bytearray(chunk.read_bytes())
    data[-1] ^= 0xFF
    chunk.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="digest"):
        unpack([tmp_path / "pack"], tmp_path / "model.gguf")


def test_unpack_names_a_missing_chunk(tiny_gguf, tmp_path):
    path, _, _ = tiny_gguf
    manifest = pack(path, {0}, tmp_path / "pack", chunk_bytes=100)
    (tmp_path / "pack" / manifest["chunks"][-1]).unlink()
    with pytest.raises(FileNotFoundError, match=manifest["chunks"][-1]):
        unpack([tmp_path / "pack"], tmp_path / "model.gguf")


def test_pack_rejects_ids_outside_the_table(tiny_gguf, tmp_path):
    path, _, _ = tiny_gguf
    with pytest.raises(ValueError, match="outside"):
        pack(path, {0, 10}, tmp_path / "pack", chunk_bytes=100)
    assert not (tmp_path / "pack").exists()  # checked before anything is written


def test_used_token_ids_are_those_of_every_window_plus_specials(tiny_tokenizer):
    from processing_vaner import encode_windows

    instruction = "If any Disease entity is mentioned in the input, extract it."
    words = ["Cystic", "fibrosis", "patients", "with", "renal", "failure"] * 6
    short = ["Aspirin", "overdose"]
    examples = {"instruction": [instruction, instruction], "tokens": [words, short]}
    ids = used_token_ids(tiny_tokenizer, [examples], max_length=24, stride=4, batch_size=1)
    windows = encode_windows(tiny_tokenizer, instruction, words, None, 24, 4)
    assert len(windows) > 1
    windows += encode_windows(tiny_tokenizer, instruction, short, None, 24, 4)
    assert ids == set(tiny_tokenizer.all_special_ids).union(*(w.input_ids for w in windows))
    assert len(ids) < len(tiny_tokenizer)
