"""train.py end to end on a tiny backbone and a tiny NCBI-disease-format corpus: output folder and resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import build_tiny_tokenizer, tiny_backbone_config
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModel, AutoModelForTokenClassification, pipeline

import evaluate_model
from configuration_vaner import VanerConfig
from dbr.export import load_config
import train

SENTENCES = [
    [("Hereditary", "B-Disease"), ("breast", "I-Disease"), ("cancer", "I-Disease"), ("in", "O"), ("mice", "O"), (".", "O")],
    [("BRCA1", "O"), ("carriers", "O"), ("develop", "O"), ("ovarian", "B-Disease"), ("cancer", "I-Disease"), (".", "O")],
    [("Aspirin", "O"), ("lowers", "O"), ("the", "O"), ("risk", "O"), ("of", "O"), ("colorectal", "B-Disease"), ("cancer", "I-Disease")],
    [("Patients", "O"), ("developed", "O"), ("nephrotoxicity", "B-Disease"), ("(", "O"), ("12", "O"), ("%", "O"), (")", "O")],
]


def write_corpus(root: Path, repeats: int = 6) -> Path:
    folder = root / "NCBI-disease"
    folder.mkdir(parents=True)
    for split, count in [("train", repeats), ("dev", 1), ("test", 1)]:
        lines = []
        for _ in range(count):
            for sentence in SENTENCES:
                lines += [f"{token}\t{tag}" for token, tag in sentence] + [""]
        (folder / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture()
def setup(tmp_path):
    tokenizer = build_tiny_tokenizer()
    backbone = AutoModel.from_config(AutoConfig.for_model(**tiny_backbone_config("llama", len(tokenizer))))
    backbone.save_pretrained(tmp_path / "backbone")
    tokenizer.save_pretrained(tmp_path / "backbone")
    return tmp_path, write_corpus(tmp_path / "data")


def _argv(tmp_path: Path, data_dir: Path, output: str, *extra: str) -> list[str]:
    return [
        "--backbone", str(tmp_path / "backbone"), "--corpora", "NCBI-disease", "--data-dir", str(data_dir),
        "--dbr", "none", "--output-dir", str(tmp_path / output), "--cache-dir", str(tmp_path / "cache"),
        "--batch-size", "4", "--eval-steps", "2", "--logging-steps", "1", "--lora-r", "4", "--lora-alpha", "8",
        "--max-length", "32", "--stride", "4", *extra,
    ]  # fmt: skip


class _FakeHfApi:
    """Records what would go to the Hub (no network here)."""

    calls: list = []

    def create_repo(self, repo_id, exist_ok=False, **kwargs):
        self.calls.append(("create_repo", repo_id, exist_ok))

    def upload_folder(self, repo_id, folder_path, **kwargs):
        self.calls.append(("upload_folder", repo_id, folder_path))


def test_tiny_run_writes_a_loadable_hub_folder(setup, monkeypatch):
    tmp_path, data_dir = setup
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", _FakeHfApi)
    final = train.main(_argv(tmp_path, data_dir, "run", "--max-steps", "4", "--push-to-hub", "me/vaner-tiny"))
    assert _FakeHfApi.calls == [("create_repo", "me/vaner-tiny", True), ("upload_folder", "me/vaner-tiny", str(final))]
    assert {"config.json", "model.safetensors", "modeling_vaner.py", "pipeline_vaner.py", "README.md"} <= {
        p.name for p in final.iterdir()
    }
    summary = json.loads((final / "training_summary.json").read_text())
    assert summary["global_step"] == 4 and 0.0 <= summary["dev_metrics"]["eval_mean_f1"] <= 100.0
    assert summary["git_revision"] and summary["machine"]["cores"] >= 1  # which code and machine trained it
    assert "NCBI-disease" in (final / "README.md").read_text()
    model = AutoModelForTokenClassification.from_pretrained(str(final), trust_remote_code=True)
    assert model.config.entity_types == ["Disease"] and model.config.dataset_names == ["NCBI-disease"]
    ner = pipeline("token-classification", model=str(final), trust_remote_code=True)
    text = "Hereditary breast cancer in mice."
    assert all(text[s["start"] : s["end"]] == s["word"] and s["entity_group"] == "Disease" for s in ner(text))
    assert (tmp_path / "run" / "adapter" / "adapter_model.safetensors").is_file()

    scored = evaluate_model.main(
        ["--model", str(final), "--corpora", "NCBI-disease", "--data-dir", str(data_dir), "--split", "test",
         "--output-dir", str(tmp_path / "test"), "--cache-dir", str(tmp_path / "cache")]
    )  # fmt: skip
    assert scored["corpora"]["NCBI-disease"]["sentences"] == len(SENTENCES)
    assert scored["corpora"]["NCBI-disease"]["entities"] == 4
    conll = (tmp_path / "test" / "NCBI-disease.test.conll").read_text().split("\n\n")
    assert conll[0].splitlines()[0].startswith("Hereditary\tB-Disease\t")
    assert json.loads((tmp_path / "test" / "metrics.test.json").read_text())["mean_f1"] == scored["mean_f1"]
    shutil.copytree(data_dir / "NCBI-disease", data_dir / "BC2GM")  # its files exist; the model never saw its name
    with pytest.raises(SystemExit, match="no-dataset-name"):
        evaluate_model.main(["--model", str(final), "--corpora", "BC2GM", "--data-dir", str(data_dir),
                             "--output-dir", str(tmp_path / "x")])  # fmt: skip


class _Killed(RuntimeError):
    pass


def test_resume_after_a_kill_matches_an_uninterrupted_run(setup, monkeypatch):
    tmp_path, data_dir = setup
    steps = ["--max-steps", "6"]
    train.main(_argv(tmp_path, data_dir, "straight", *steps))

    original_step = train.DevF1Trainer.training_step
    calls = {"n": 0}

    def dying_step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # after checkpoint-2, in the middle of the next interval
            raise _Killed()
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(train.DevF1Trainer, "training_step", dying_step)
    with pytest.raises(_Killed):
        train.main(_argv(tmp_path, data_dir, "killed", *steps))
    assert (tmp_path / "killed" / "checkpoints" / "checkpoint-2").is_dir()
    monkeypatch.setattr(train.DevF1Trainer, "training_step", original_step)
    train.main(_argv(tmp_path, data_dir, "killed", *steps, "--resume"))

    straight = load_file(tmp_path / "straight" / "adapter" / "adapter_model.safetensors")
    resumed = load_file(tmp_path / "killed" / "adapter" / "adapter_model.safetensors")
    assert straight.keys() == resumed.keys()
    for name in straight:
        torch.testing.assert_close(resumed[name], straight[name], msg=name)
    summary = json.loads((tmp_path / "killed" / "model" / "training_summary.json").read_text())
    assert summary["resumed_from"].endswith("checkpoint-2")


def _write_kb(tmp_path: Path) -> Path:
    kb = tmp_path / "kb.tsv"
    kb.write_text(
        "name\ttype\tsource\tid\n"
        + "".join(f"disease number {i}\tDisease\tMESH\tMESH:D{i:06d}\n" for i in range(30))
        + "".join(f"chemical {i}\tChemical\tCHEBI\tCHEBI:{i}\n" for i in range(30))
    )
    return kb


def test_random_dbr_examples_join_the_training_mixture(setup):
    tmp_path, data_dir = setup
    args = train.parse_args(_argv(tmp_path, data_dir, "random", "--max-steps", "2", "--kb", str(_write_kb(tmp_path))))
    args.dbr = "random"
    train_examples, _, fields = train.load_examples(args)
    dense = train_examples.filter(lambda row: row["corpus"] == "DBR")
    assert len(dense) > 0 and len(train_examples) == len(dense) + 6 * len(SENTENCES)
    assert all("NCBI-disease" not in instruction for instruction in dense["instruction"])
    assert fields["dataset_names"] == ["NCBI-disease"]
    for tokens, labels in zip(dense["tokens"], dense["labels"]):
        positives = sum(label == 1 for label in labels)
        assert 1 <= positives <= 10 and len(tokens) == len(labels)


def test_matched_dbr_mirrors_its_reference_build(setup):
    tmp_path, data_dir = setup
    kb = str(_write_kb(tmp_path))
    random_args = train.parse_args(_argv(tmp_path, data_dir, "ref", "--kb", kb, "--dbr", "random"))
    ref = str(train.build_kb_sampled_dbr(random_args))
    args = train.parse_args(_argv(tmp_path, data_dir, "matched", "--kb", kb, "--dbr", "matched", "--dbr-reference", ref))
    matched = train.load_dbr(args)[0]
    before = load_config(ref, "NCBI-disease", cache_dir=str(tmp_path / "cache"))
    assert (tmp_path / "matched" / "dbr-matched" / "README.md").is_file()
    assert matched["ner_tags"] == before["ner_tags"] and matched["tokens"] != before["tokens"]
    assert train.build_kb_sampled_dbr(random_args) == Path(ref)  # a resumed run reuses its own build
    random_args.seed = 7  # ... but not one made with another seed
    with pytest.raises(SystemExit, match=r"dbr-random was built with other settings \(then, now\): "
                                         r"\{'seed': \[42, 7\]\}"):
        train.build_kb_sampled_dbr(random_args)


def test_shipped_adapter_materializes_to_the_trained_model(setup):
    import export_model

    tmp_path, data_dir = setup
    final = train.main(_argv(tmp_path, data_dir, "ship", "--max-steps", "2"))
    shipped = export_model.ship(tmp_path / "ship", tmp_path / "shipped", backbone=str(tmp_path / "backbone"))
    assert sorted(p.name for p in shipped.iterdir()) == [
        "README.md", "abbreviations_vaner.py", "adapter_config.json", "adapter_model.safetensors", "adapter_vaner.py",
        "config.json",
        "configuration_vaner.py", "linking_vaner.py", "modeling_vaner.py", "pipeline_vaner.py", "processing_vaner.py",
        "tokenization_vaner.py", "tokenizer_config.json", "training_summary.json",
    ]  # fmt: skip
    config = json.loads((shipped / "config.json").read_text())
    config.update(decoding="viterbi", resolve_abbreviations=True)  # what a shipped model sets beside its weights
    (shipped / "config.json").write_text(json.dumps(config))
    full = export_model.materialize(shipped, cache_dir=tmp_path / "cache")
    assert {"decoding", "resolve_abbreviations"} <= set(export_model.VANER_FIELDS)
    built = json.loads((full / "config.json").read_text())
    assert {field: built.get(field) for field in export_model.VANER_FIELDS} == {
        field: config.get(field) for field in export_model.VANER_FIELDS
    }  # every task field carried over, not only those a hand-kept list named
    built.update(decoding="argmax", resolve_abbreviations=False)  # a folder built before they were carried over
    (full / "config.json").write_text(json.dumps(built))
    assert export_model.materialize(shipped, cache_dir=tmp_path / "cache") == full  # built once
    assert export_model.refresh_config(shipped, full) == []  # the stale fields were set back by materialize
    assert VanerConfig.from_pretrained(full).decoding == "viterbi"
    with open(shipped / "pipeline_vaner.py", "a") as handle:  # the package's code moved on after the build
        handle.write("\n# newer code\n")
    assert export_model.materialize(shipped, cache_dir=tmp_path / "cache") == full
    assert (full / "pipeline_vaner.py").read_bytes() == (shipped / "pipeline_vaner.py").read_bytes()
    assert export_model.refresh_code(shipped, full) == []  # nothing left to update
    (full / "config.json").unlink()  # a build that crashed half-way, beside an old-style staging folder
    (full.with_name(full.name + ".partial") / "model.safetensors").parent.mkdir()
    assert export_model.materialize(shipped, cache_dir=tmp_path / "cache") == full  # rebuilt, not blocked
    assert (full / "config.json").is_file()
    assert sorted(p.name for p in full.parent.iterdir()) == [full.name, full.name + ".partial"]  # own staging gone
    ids = torch.tensor([build_tiny_tokenizer()("Hereditary breast cancer in mice")["input_ids"]])
    trained = AutoModelForTokenClassification.from_pretrained(str(final), trust_remote_code=True).eval()
    rebuilt = AutoModelForTokenClassification.from_pretrained(str(full), trust_remote_code=True).eval()
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(input_ids=ids).logits, trained(input_ids=ids).logits, atol=1e-5, rtol=1e-4)
    assert rebuilt.config.dataset_names == ["NCBI-disease"]
    spans = pipeline("token-classification", model=str(full), trust_remote_code=True)("Hereditary breast cancer.")
    assert all(s["entity_group"] == "Disease" for s in spans)


def test_shipped_adapter_folder_loads_directly_from_a_fresh_copy(setup):
    """The committed adapter folder is itself a Hub repo: Auto classes and pipeline() merge it onto the backbone."""
    import shutil

    import export_model

    tmp_path, data_dir = setup
    final = train.main(_argv(tmp_path, data_dir, "ship", "--max-steps", "2"))
    for _ in range(2):  # shipping again over the linked folder updates it
        shipped = export_model.ship(tmp_path / "ship", tmp_path / "shipped", str(tmp_path / "backbone"), link_code=True)
    assert (shipped / "modeling_vaner.py").is_symlink() and (shipped / "configuration_vaner.py").is_symlink()
    elsewhere = shutil.copytree(shipped, tmp_path / "elsewhere" / "vaner-adapter")  # links copied as files
    trained = AutoModelForTokenClassification.from_pretrained(str(final), trust_remote_code=True).eval()
    direct = AutoModelForTokenClassification.from_pretrained(str(elsewhere), trust_remote_code=True)
    assert type(direct).__module__.startswith("transformers_modules") and not direct.training
    ids = torch.tensor([build_tiny_tokenizer()("Hereditary breast cancer in mice")["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(direct(input_ids=ids).logits, trained(input_ids=ids).logits, atol=1e-5, rtol=1e-4)
    half = AutoModelForTokenClassification.from_pretrained(str(elsewhere), trust_remote_code=True, dtype=torch.bfloat16)
    assert half.backbone.get_input_embeddings().weight.dtype == torch.bfloat16
    assert half.classifier.weight.dtype == torch.float32  # the head stays fp32 on the adapter path too
    ner = pipeline("token-classification", model=str(elsewhere), trust_remote_code=True)
    assert ner.tokenizer.get_vocab() == build_tiny_tokenizer().get_vocab()
    reference = pipeline("token-classification", model=str(final), trust_remote_code=True)
    text = "Hereditary breast cancer in mice. Patients developed nephrotoxicity."
    assert ner(text) == reference(text)


def test_adapter_folder_without_backbone_source_says_so(setup):
    import export_model

    tmp_path, data_dir = setup
    train.main(_argv(tmp_path, data_dir, "ship", "--max-steps", "1"))
    shipped = export_model.ship(tmp_path / "ship", tmp_path / "shipped", backbone=str(tmp_path / "backbone"))
    config = json.loads((shipped / "config.json").read_text())
    del config["backbone_source"]
    (shipped / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="no `backbone_source`"):
        AutoModelForTokenClassification.from_pretrained(str(shipped), trust_remote_code=True)


def test_shipped_checkpoint_restores_and_resumes_elsewhere(setup):
    import export_model

    tmp_path, data_dir = setup
    train.main(_argv(tmp_path, data_dir, "first", "--max-steps", "2"))
    checkpoint = tmp_path / "first" / "checkpoints" / "checkpoint-2"
    metrics = tmp_path / "metrics.test.json"
    metrics.write_text(json.dumps({"corpora": {"NCBI-disease": {"precision": 1.0, "recall": 2.0, "f1": 1.33}},
                                   "mean_f1": 1.33, "dataset_names_in_instructions": True}))
    shipped = export_model.ship(tmp_path / "first", tmp_path / "shipped", str(tmp_path / "backbone"), checkpoint,
                                test_metrics=[metrics])
    assert (shipped / "training_state" / "trainer_state.json").is_file()
    card = (shipped / "README.md").read_text()
    assert "checkpoint of a run still in training" in card and "| **1.33** | 88.03 | -86.70 |" in card
    assert "| learning rate | 0.0002, constant (AdamW) |" in card
    assert json.loads((shipped / "test_metrics.json").read_text())[0]["mean_f1"] == 1.33
    restored = export_model.restore(shipped, tmp_path / "second")
    assert restored == tmp_path / "second" / "checkpoints" / "checkpoint-2"
    reshipped = export_model.ship(tmp_path / "second", tmp_path / "reshipped", str(tmp_path / "backbone"), restored)
    assert "checkpoint of a run still in training" in (reshipped / "README.md").read_text()  # train_args came along
    before = {p.name: p.read_bytes() for p in shipped.iterdir() if p.is_file()}
    (tmp_path / "first" / "train_args.json").unlink()
    with pytest.raises(FileNotFoundError, match="train_args.json"):
        export_model.ship(tmp_path / "first", shipped, str(tmp_path / "backbone"), checkpoint)
    assert {p.name: p.read_bytes() for p in shipped.iterdir() if p.is_file()} == before  # a failed ship changes nothing
    train.main(_argv(tmp_path, data_dir, "second", "--max-steps", "4", "--resume"))
    summary = json.loads((tmp_path / "second" / "model" / "training_summary.json").read_text())
    assert summary["global_step"] == 4 and summary["resumed_from"].endswith("checkpoint-2")
    with pytest.raises(FileNotFoundError, match="training_state"):
        export_model.restore(tmp_path / "nowhere", tmp_path / "third")


def test_shipped_folder_ships_again_with_new_biases_after_its_run_folder_is_gone(setup):
    import shutil

    import export_model

    tmp_path, data_dir = setup
    train.main(_argv(tmp_path, data_dir, "run", "--max-steps", "2"))
    metrics = tmp_path / "metrics.test.json"
    metrics.write_text(json.dumps({"corpora": {"NCBI-disease": {"precision": 1.0, "recall": 2.0, "f1": 1.33}},
                                   "mean_f1": 1.33, "dataset_names_in_instructions": False}))
    shipped = export_model.ship(tmp_path / "run", tmp_path / "shipped", str(tmp_path / "backbone"),
                                test_metrics=[metrics])
    shutil.rmtree(tmp_path / "run")
    before = {p.name: p.read_bytes() for p in shipped.iterdir() if p.is_file()}
    calibration = tmp_path / "calibration.json"
    calibration.write_text(json.dumps({
        "dataset_names_in_instructions": False, "o_bias": {"Disease": 0.5}, "max_sentences_per_corpus": 0,
        "abbreviation_reach": 20, "decoding": "viterbi", "mean_dev_f1_bias_0": 40.0, "mean_dev_f1_chosen": 41.5,
        "corpora": {"NCBI-disease": {"chosen": {"precision": 40.0, "recall": 43.0, "f1": 41.5}}},
    }))
    export_model.main(["ship", "--shipped", str(shipped), "--output", str(shipped), "--backbone",
                       str(tmp_path / "backbone"), "--calibration", str(calibration)])
    after = {p.name: p.read_bytes() for p in shipped.iterdir() if p.is_file()}
    changed = sorted(name for name in after if after[name] != before.get(name))
    assert changed == ["README.md", "config.json"] and after.keys() == before.keys()
    config = json.loads(after["config.json"])
    assert config["o_bias_no_dataset"] == {"Disease": 0.5} and config["decoding"] == "viterbi"
    old_card, new_card = before["README.md"].decode().splitlines(), after["README.md"].decode().splitlines()
    assert [line for line in new_card if line not in old_card] == [
        "| decoding | Viterbi: the best IOB2-valid tag sequence of each sentence (`decoding`) |",
        "| decision bias without a dataset name in the instruction (`o_bias_no_dataset`, the pipeline's default) | "
        "Disease +0.50 on the O log-probability, chosen on the dev splits with abbreviations resolved (each sentence "
        "after its 20 preceding sentences): mean dev F1 40.00 -> 41.50 |",
    ]
    with pytest.raises(ValueError, match="o_bias_no_dataset is set"):  # the bias must keep a source on the card
        export_model.reship(shipped, shipped, str(tmp_path / "backbone"))
    (shipped / "training_summary.json").unlink()
    with pytest.raises(FileNotFoundError, match="training_summary.json: missing"):
        export_model.reship(shipped, tmp_path / "elsewhere", str(tmp_path / "backbone"), calibration=calibration)
    with pytest.raises(SystemExit):
        export_model.main(["ship", "--shipped", str(shipped), "--output", str(shipped), "--lora-dtype", "float16"])


def test_init_adapter_starts_from_a_trained_adapter(setup):
    from safetensors.torch import load_file

    tmp_path, data_dir = setup
    train.main(_argv(tmp_path, data_dir, "base", "--max-steps", "2"))
    adapter = tmp_path / "base" / "adapter"
    args = train.parse_args(_argv(tmp_path, data_dir, "warm", "--no-dataset-name", "--init-adapter", str(adapter)))
    _, _, fields = train.load_examples(args)
    model, _, _ = train.build_model(args, fields)
    saved = load_file(adapter / "adapter_model.safetensors")
    state = {k: v for k, v in model.state_dict().items() if "lora_" in k or "classifier" in k}
    lora_b = next(k for k in saved if "lora_B" in k)  # zero in a fresh adapter, trained here
    suffix = lora_b.split("base_model.model.", 1)[1].replace(".weight", ".default.weight")
    loaded = next(v for k, v in state.items() if k.endswith(suffix))
    assert saved[lora_b].abs().sum() > 0
    torch.testing.assert_close(loaded.float(), saved[lora_b].float())
    assert any(p.requires_grad for n, p in model.named_parameters() if "lora_" in n)  # trainable, not frozen
    with pytest.raises(SystemExit):
        train.parse_args(_argv(tmp_path, data_dir, "bad", "--init-adapter", str(tmp_path / "nowhere")))
    # the rank, alpha and dropout are the init adapter's (r=4, alpha=8), whatever --lora-* says; the cards say so
    train.main(_argv(tmp_path, data_dir, "warm", "--init-adapter", str(adapter), "--max-steps", "1",
                     "--lora-r", "16", "--lora-alpha", "32", "--lora-dropout", "0.3"))
    import export_model

    shipped = export_model.ship(tmp_path / "warm", tmp_path / "shipped", str(tmp_path / "backbone"),
                                tmp_path / "warm" / "checkpoints" / "checkpoint-1")
    for card in (tmp_path / "warm" / "model" / "README.md", shipped / "README.md"):
        assert "| LoRA | r=4, alpha=8, dropout 0.05, all linear layers |" in card.read_text(), card


def test_init_adapter_keeps_the_types_and_datasets_it_knew(setup):
    """Further training on one corpus must not drop the other types (and dataset names) from the config."""
    tmp_path, data_dir = setup
    train.main(_argv(tmp_path, data_dir, "base", "--max-steps", "1"))
    adapter = tmp_path / "base" / "adapter"  # a run's adapter/: its config is the run folder's
    config = json.loads((tmp_path / "base" / "config.json").read_text())
    assert config["entity_types"] == ["Disease"]
    config.update(entity_types=["Disease", "Chemical", "CellLine"], dataset_names=["NCBI-disease", "BC5CDR-chem"],
                  dataset_entity_types={"NCBI-disease": "Disease", "BC5CDR-chem": "Chemical"})
    (tmp_path / "base" / "config.json").write_text(json.dumps(config))  # as if trained on more corpora
    named = train.main(_argv(tmp_path, data_dir, "named", "--init-adapter", str(adapter), "--max-steps", "1"))
    named_config = json.loads((named / "config.json").read_text())
    assert named_config["entity_types"] == ["Disease", "Chemical", "CellLine"]
    assert named_config["dataset_names"] == ["NCBI-disease", "BC5CDR-chem"]
    assert named_config["dataset_entity_types"] == {"NCBI-disease": "Disease", "BC5CDR-chem": "Chemical"}
    unnamed = train.main(_argv(tmp_path, data_dir, "unnamed", "--init-adapter", str(adapter), "--max-steps", "1",
                               "--no-dataset-name"))
    unnamed_config = json.loads((unnamed / "config.json").read_text())
    assert unnamed_config["entity_types"] == ["Disease", "Chemical", "CellLine"]
    assert unnamed_config["dataset_names"] == [] and unnamed_config["dataset_entity_types"] == {}
    (tmp_path / "base" / "config.json").unlink()
    with pytest.raises(SystemExit):  # refused by the argument check, before any data is read
        train.main(_argv(tmp_path, data_dir, "lost", "--init-adapter", str(adapter), "--max-steps", "1"))
    assert not (tmp_path / "lost").exists()
    with pytest.raises(FileNotFoundError, match="no VANER config.json in it or its parent run folder"):
        train.init_adapter_config(str(adapter))


def test_two_process_cpu_run_writes_the_final_folder_once(setup):
    """`torchrun --nproc_per_node 2 train.py` (gloo DDP on CPU: two 1-thread workers beat one 2-thread job)."""
    import os
    import subprocess
    import sys

    tmp_path, data_dir = setup
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "train.py",
               *_argv(tmp_path, data_dir, "ddp", "--max-steps", "2", "--batch-size", "2")]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(train.__file__).parent)}
    done = subprocess.run(command, cwd=Path(train.__file__).parent, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count(f"saved {tmp_path / 'ddp' / 'model'}") == 1
    summary = json.loads((tmp_path / "ddp" / "model" / "training_summary.json").read_text())
    assert summary["global_step"] == 2
    AutoModelForTokenClassification.from_pretrained(str(tmp_path / "ddp" / "model"), trust_remote_code=True)


def test_training_seconds_add_up_resumed_segments():
    from dev_selection import training_seconds

    first = [{"step": 1, "train_runtime": 10.0}, {"step": 2, "eval_mean_f1": 1.0}, {"step": 3, "train_runtime": 30.0}]
    resumed = [{"step": 4, "train_runtime": 5.0}, {"step": 5, "train_runtime": 12.5}]
    assert training_seconds(first) == 30.0
    assert training_seconds(first + resumed) == 42.5
    assert training_seconds(first + resumed + [{"train_runtime": 12.5}]) == 42.5  # the final summary repeats the last
    assert training_seconds([]) == 0.0


def _learning_rates(run: Path) -> dict[int, float]:
    state = json.loads((run / "checkpoints" / "checkpoint-4" / "trainer_state.json").read_text())
    return {entry["step"]: entry["learning_rate"] for entry in state["log_history"] if "learning_rate" in entry}


def test_cooldown_branch_decays_the_lr_from_a_constant_lr_checkpoint(setup):
    tmp_path, data_dir = setup
    train.main(_argv(tmp_path, data_dir, "trunk", "--max-steps", "4"))
    trunk = _learning_rates(tmp_path / "trunk")
    assert set(trunk.values()) == {2e-4}  # the paper's constant LR
    fork = tmp_path / "trunk" / "checkpoints" / "checkpoint-2"
    train.main(_argv(tmp_path, data_dir, "branch", "--resume", str(fork), "--decay-from", "2", "--decay-steps", "2"))

    branch = _learning_rates(tmp_path / "branch")
    # the LR that step k used: 2e-4 up to the fork, then 2e-4 * (1 - (k - 1 - 2) / 2) for the 2 decay steps
    assert branch == {1: 2e-4, 2: 2e-4, 3: 2e-4, 4: pytest.approx(1e-4)}
    summary = json.loads((tmp_path / "branch" / "model" / "training_summary.json").read_text())
    assert summary["global_step"] == 4 and summary["resumed_from"] == str(fork)
    assert summary["best_checkpoint"] == str(tmp_path / "branch" / "checkpoints" / "checkpoint-4")  # its own best
    assert not (tmp_path / "trunk" / "checkpoints" / "checkpoint-6").exists()  # the trunk is left as it was
    # the branch saw the trunk's batches 3-4: with the LR halved at step 4 its weights must differ from the trunk's
    trunk_weights = load_file(tmp_path / "trunk" / "checkpoints" / "checkpoint-4" / "adapter_model.safetensors")
    branch_weights = load_file(tmp_path / "branch" / "checkpoints" / "checkpoint-4" / "adapter_model.safetensors")
    assert any(not torch.equal(trunk_weights[k], branch_weights[k]) for k in trunk_weights)
    import export_model

    card = (export_model.ship(tmp_path / "branch", tmp_path / "shipped", str(tmp_path / "backbone"),
                              tmp_path / "branch" / "checkpoints" / "checkpoint-4") / "README.md").read_text()
    assert "Status: the end of a cooldown branch (LR decayed to 0 from step 2 to 4)" in card
    assert "| learning rate | 0.0002 constant to step 2, then linearly to 0 by step 4 (AdamW, cooldown branch) |" in card
    assert "| learning rate | 0.0002 constant to step 2" in (tmp_path / "branch" / "model" / "README.md").read_text()


def test_a_branch_forgets_the_best_of_the_run_it_was_resumed_from(tmp_path):
    from types import SimpleNamespace

    from transformers import TrainerControl, TrainerState

    from dev_selection import BestWithinThisRun

    args = SimpleNamespace(output_dir=str(tmp_path / "branch" / "checkpoints"))
    own = str(tmp_path / "branch" / "checkpoints" / "checkpoint-6")
    # None: the Trainer found the recorded best checkpoint's folder gone (restored elsewhere) and kept only its score
    for best, kept in [(str(tmp_path / "trunk" / "checkpoints" / "checkpoint-2"), False), (own, True), (None, False)]:
        state = TrainerState(best_metric=79.8, best_model_checkpoint=best, best_global_step=2)
        BestWithinThisRun().on_train_begin(args, state, TrainerControl())
        assert (state.best_metric, state.best_model_checkpoint, state.best_global_step) == (
            (79.8, best, 2) if kept else (None, None, None))


def test_decay_follows_the_global_step_after_a_restore_without_optimizer_state(setup):
    import shutil

    tmp_path, data_dir = setup
    train.main(_argv(tmp_path, data_dir, "trunk", "--max-steps", "2"))
    fork = tmp_path / "restored" / "checkpoint-2"
    shutil.copytree(tmp_path / "trunk" / "checkpoints" / "checkpoint-2", fork)
    (fork / "optimizer.pt").unlink()  # what export_model.py restore recreates: no optimizer, so no scheduler state
    train.main(_argv(tmp_path, data_dir, "branch", "--resume", str(fork), "--decay-from", "2", "--decay-steps", "2"))
    assert _learning_rates(tmp_path / "branch")[4] == pytest.approx(1e-4)  # not 2e-4 from a counter restarted at 0


def test_decay_and_resume_arguments_are_checked(setup):
    tmp_path, data_dir = setup
    with pytest.raises(SystemExit):
        train.parse_args(_argv(tmp_path, data_dir, "x", "--decay-from", "10"))
    with pytest.raises(SystemExit):
        train.parse_args(_argv(tmp_path, data_dir, "x", "--decay-from", "10", "--decay-steps", "0"))
    with pytest.raises(SystemExit):
        train.parse_args(_argv(tmp_path, data_dir, "x", "--resume", str(tmp_path / "no-checkpoint")))
    assert train.parse_args(_argv(tmp_path, data_dir, "x", "--resume")).resume is True


def test_soup_of_shipped_checkpoints_ships_with_its_provenance(setup):
    """export_model.ship --soup: the averaged adapter of two shipped checkpoints ships with a card naming both."""
    import export_model
    from average_models import average_adapters

    tmp_path, data_dir = setup
    train.main(_argv(tmp_path, data_dir, "run", "--max-steps", "4"))
    checkpoints = [tmp_path / "run" / "checkpoints" / f"checkpoint-{step}" for step in (2, 4)]
    shipped = [export_model.ship(tmp_path / "run", tmp_path / f"step{c.name[-1]}", str(tmp_path / "backbone"), c)
               for c in checkpoints]
    soup = average_adapters(shipped, tmp_path / "soup")
    record = json.loads((soup / "soup.json").read_text())
    assert [item["global_step"] for item in record["ingredients"]] == [2, 4]
    assert record["ingredients"][0]["train_args"]["corpora"] == ["NCBI-disease"]
    calibration = tmp_path / "calibration.json"
    calibration.write_text(json.dumps({
        "dataset_names_in_instructions": True, "o_bias": {"Disease": 0.25}, "max_sentences_per_corpus": 1000,
        "abbreviation_reach": 20, "mean_dev_f1_bias_0": 40.0, "mean_dev_f1_chosen": 41.5,
        "corpora": {"NCBI-disease": {"chosen": {"precision": 40.0, "recall": 43.0, "f1": 41.5}}},
    }))
    out = export_model.main(["ship", "--soup", str(soup), "--output", str(tmp_path / "shipped-soup"),
                             "--backbone", str(tmp_path / "backbone"), "--calibration", str(calibration)])
    assert out is None
    folder = tmp_path / "shipped-soup"
    assert (folder / "soup.json").read_text() == (soup / "soup.json").read_text() and not (folder / "training_state").exists()
    assert json.loads((folder / "config.json").read_text())["o_bias"] == {"Disease": 0.25}
    card = (folder / "README.md").read_text()
    assert "uniform weight average (model soup) of step 2 (checkpoint at step 2 of a run still in training" in card
    assert "step 4 (checkpoint at step 4" in card
    assert "| LoRA | r=4 per averaged checkpoint (8 in the averaged adapter), alpha=8" in card
    assert "| NCBI-disease | 40.00 | 43.00 | 41.50 |" in card
    assert ("at its decision bias, on the first 1000 sentences of each dev split with abbreviations resolved (each "
            "sentence after its 20 preceding sentences).**") in card
    soup_model = AutoModelForTokenClassification.from_pretrained(str(folder), trust_remote_code=True)
    assert soup_model.config.o_bias == {"Disease": 0.25}
    again = export_model.reship(folder, tmp_path / "again", str(tmp_path / "backbone"), calibration=calibration)
    assert (again / "README.md").read_text() == card and (again / "soup.json").is_file()  # from its soup record
    cut = average_adapters(shipped, tmp_path / "soup-cut", max_rank=5)  # a rank-capped soup says so on its card
    export_model.main(["ship", "--soup", str(cut), "--output", str(tmp_path / "shipped-cut"),
                       "--backbone", str(tmp_path / "backbone")])
    assert ("| LoRA | r=4 per averaged checkpoint (5 in the averaged adapter, its best rank-5 approximation by SVD)"
            in (tmp_path / "shipped-cut" / "README.md").read_text())

    export_model.main(["ship", "--run", str(tmp_path / "run"), "--checkpoint", str(checkpoints[1]), "--output",
                       str(tmp_path / "half"), "--backbone", str(tmp_path / "backbone"), "--lora-dtype", "float16"])
    half = load_file(tmp_path / "half" / "adapter_model.safetensors")
    assert {t.dtype for k, t in half.items() if "lora_" in k} == {torch.float16}
    ids = torch.tensor([build_tiny_tokenizer()("Hereditary breast cancer in mice")["input_ids"]])
    with torch.no_grad():
        full_logits = AutoModelForTokenClassification.from_pretrained(str(shipped[1]), trust_remote_code=True)(input_ids=ids).logits
        half_logits = AutoModelForTokenClassification.from_pretrained(str(tmp_path / "half"), trust_remote_code=True)(input_ids=ids).logits
    torch.testing.assert_close(half_logits, full_logits, atol=1e-3, rtol=1e-3)

    other = average_adapters([shipped[0], soup], tmp_path / "soup-of-soup")  # a soup has no training state
    with pytest.raises(ValueError, match=r"soup-of-soup/soup.json: no training state for .*soup"):
        export_model.ship_soup(other, tmp_path / "x", str(tmp_path / "backbone"))
    record["ingredients"][1]["train_args"]["corpora"] = ["BC2GM"]
    (soup / "soup.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match=r"step4 differs from .*step2 in \['corpora'\]"):
        export_model.ship_soup(soup, tmp_path / "x", str(tmp_path / "backbone"))
    with pytest.raises(SystemExit):
        export_model.main(["ship", "--soup", str(soup), "--checkpoint", "c", "--output", str(tmp_path / "x")])
    assert not (tmp_path / "x").exists()


def test_a_call_that_fails_on_its_data_keeps_the_runs_recorded_arguments(setup):
    tmp_path, data_dir = setup
    run = tmp_path / "kept"
    run.mkdir()
    (run / "train_args.json").write_text('{"seed": 7}\n')  # what the run's first, successful call recorded
    (tmp_path / "empty-dbr").mkdir()
    with pytest.raises(SystemExit, match="--dbr .*empty-dbr: no DBR config"):
        train.main(_argv(tmp_path, data_dir, "kept", "--resume", "--dbr", str(tmp_path / "empty-dbr")))
    assert (run / "train_args.json").read_text() == '{"seed": 7}\n'


def test_context_sentences_reach_the_examples_and_the_config_and_a_negative_count_is_refused(setup, capsys):
    tmp_path, data_dir = setup
    args = train.parse_args(_argv(tmp_path, data_dir, "ctx", "--context-sentences", "1"))
    examples, dev, fields = train.load_examples(args)
    assert fields["context_sentences"] == 1
    plain = VanerConfig().render_instruction("Disease", "NCBI-disease")
    dev_instructions = dev["NCBI-disease"]["instruction"]
    assert dev_instructions[0] == plain and dev_instructions[1].endswith(f" {plain}") and dev_instructions[1] != plain
    assert sum(i != plain for i in examples["instruction"]) == len(examples) - 1  # all but the split's first sentence
    with pytest.raises(SystemExit):
        train.parse_args(_argv(tmp_path, data_dir, "bad", "--context-sentences", "-1"))
    assert "--context-sentences -1" in capsys.readouterr().err
