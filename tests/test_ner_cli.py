"""ner.py, the README's first command: texts, --file, --json and PubTator in and out, with an oracle model."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import build_tiny_model, oracle_model

import ner
import precision
from pipeline_vaner import VanerTokenClassificationPipeline
from pubtator import read_pubtator

TEXT = "Mutations in BRCA1 cause cancer. BRCA1 carriers were studied."


@pytest.fixture()
def oracle_cli(tiny_tokenizer, monkeypatch):
    """ner.main with a model that tags every BRCA1 as a Gene (and nothing else); the model folder it was given."""
    model = oracle_model(build_tiny_model(tiny_tokenizer, entity_types=["Gene"]), tiny_tokenizer, "BRCA1", [])
    asked: list = []

    def fake_pipeline(task, model, trust_remote_code, dtype):
        asked.append((task, model, trust_remote_code, dtype))
        return oracle

    oracle = VanerTokenClassificationPipeline(model=model, tokenizer=tiny_tokenizer)
    monkeypatch.setattr(ner, "pipeline", fake_pipeline)
    return asked


def test_text_and_json_output(oracle_cli, capsys, tmp_path):
    ner.main(["--model", str(tmp_path), "--dtype", "float32", TEXT])
    assert oracle_cli == [("token-classification", str(tmp_path), True, torch.float32)]  # as the scores were measured
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert [(int(r[0]), int(r[1]), r[2], r[4]) for r in rows] == [(13, 18, "Gene", "BRCA1"), (33, 38, "Gene", "BRCA1")]
    ner.main(["--model", str(tmp_path), "--dtype", "bfloat16", TEXT])
    assert oracle_cli[-1][-1] == torch.bfloat16
    capsys.readouterr()
    lines = tmp_path / "texts.txt"
    lines.write_text(f"{TEXT}\n\nno entity here\n", encoding="utf-8")
    ner.main(["--model", str(tmp_path), "--file", str(lines), "--json"])
    first, second = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(s["start"], s["word"]) for s in first] == [(13, "BRCA1"), (33, "BRCA1")] and second == []
    # a byte-order mark and CRLF line ends are dropped; a form feed or U+2028 inside a line does not split it
    lines.write_bytes(f"\ufeff{TEXT}\x0cPage two: BRCA1.\r\nBRCA1 in\u2028mice.\r\n".encode("utf-8"))
    ner.main(["--model", str(tmp_path), "--file", str(lines), "--json"])
    first, second = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [s["start"] for s in first] == [13, 33, len(TEXT) + 11] and [s["start"] for s in second] == [0]


@pytest.mark.parametrize("native_bf16, expected", [(True, torch.bfloat16), (False, torch.float32), (None, torch.float32)])
def test_default_dtype_is_bf16_exactly_where_the_cpu_has_it(oracle_cli, capsys, tmp_path, monkeypatch,
                                                           native_bf16, expected):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda *args: native_bf16)
    ner.main(["--model", str(tmp_path), TEXT])
    assert oracle_cli[-1][-1] == expected
    assert "BRCA1" in capsys.readouterr().out


def test_pubtator_in_pubtator_out(oracle_cli, capsys, tmp_path):
    source = tmp_path / "in.pubtator"
    source.write_text("7|t|BRCA1 in cancer.\n7|a|We sequenced BRCA1.\n7\t9\t15\tcancer\tDisease\n\n8|t|Nothing.\n8|a|\n",
                      encoding="utf-8")
    ner.main(["--model", str(tmp_path), "--pubtator", str(source)])
    out = capsys.readouterr().out
    assert out == "7|t|BRCA1 in cancer.\n7|a|We sequenced BRCA1.\n7\t0\t5\tBRCA1\tGene\n7\t30\t35\tBRCA1\tGene\n\n8|t|Nothing.\n8|a|\n\n"
    written = tmp_path / "out.pubtator"
    written.write_text(out, encoding="utf-8")
    assert read_pubtator(written) == read_pubtator(source)  # same documents; the file's own annotation was replaced


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "give a text, --file or --pubtator"),
        (["--entity-types", "Gene", "BRCA1 binds"], "put the text before it, or after --"),
        (["--file", "missing.txt"], "--file: no such file: missing.txt"),
        (["--file", "{latin}"], "latin.txt:2: not UTF-8 (invalid continuation byte at byte 14)"),
        (["--pubtator", "missing.pubtator"], "--pubtator: no such file"),
        (["--pubtator", "{bad}"], "bad.pubtator, line 1"),
        (["--pubtator", "{bad}", "some text"], "give no text or --file with it"),
        (["--pubtator", "{bad}", "--json"], "argument --json: not allowed with argument --pubtator"),
    ],
)
def test_bad_arguments_exit_with_a_message_and_load_no_model(oracle_cli, capsys, tmp_path, argv, message):
    bad = tmp_path / "bad.pubtator"
    bad.write_text("free text, not PubTator\n", encoding="utf-8")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("First line.\nna\xefve cells\n".encode("latin-1"))
    with pytest.raises(SystemExit) as exit_info:
        ner.main([arg.replace("{bad}", str(bad)).replace("{latin}", str(latin)) for arg in argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert oracle_cli == []


def test_link_puts_concept_ids_in_the_table_and_the_sixth_pubtator_column(oracle_cli, capsys, tmp_path, monkeypatch):
    asked: list = []

    class FakeLinker:
        def link(self, mentions, entity_types, top_k=1, id_prefixes=None):
            return [[{"id": f"NCBIGene:{m}", "name": m, "score": 1.0}] for m in mentions]

    monkeypatch.setattr(VanerTokenClassificationPipeline, "_linker", lambda self, link: asked.append(link) or FakeLinker())
    ner.main(["--model", str(tmp_path), "--link", "my-index", "Loss of BRCA1."])
    assert asked and set(asked) == {"my-index"}  # the real _linker loads an index once per pipeline
    assert capsys.readouterr().out.split("\n")[0].endswith("BRCA1  [NCBIGene:BRCA1]")
    source = tmp_path / "in.pubtator"
    source.write_text("7|t|BRCA1.\n7|a|\n", encoding="utf-8")
    ner.main(["--model", str(tmp_path), "--link", "my-index", "--pubtator", str(source)])
    assert "7\t0\t5\tBRCA1\tGene\tNCBIGene:BRCA1\n" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["BRCA1", "--entity-types", "Protein"], "Unknown entity type(s) ['Protein']"),
        (["--dataset", "BC2GM", "BRCA1"], "Unknown dataset 'BC2GM'"),
    ],
)
def test_what_the_model_does_not_know_exits_with_its_message(oracle_cli, capsys, tmp_path, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        ner.main(["--model", str(tmp_path), *argv])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
