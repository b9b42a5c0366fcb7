"""Tag biomedical entities in text from the command line.

    python ner.py "Aspirin lowers the risk of colorectal cancer in BRCA1 carriers."
    python ner.py --file abstracts.txt --model path/or/hub-id --entity-types Gene Species --json
    python ner.py --pubtator abstracts.pubtator > tagged.pubtator      # PubTator in, PubTator out

`--model` is a trained VANER folder or Hub id, or a shipped adapter folder (export_model.py), which is
rebuilt once into a full folder under $VANER_CACHE so that later runs start in seconds. Without it, the model shipped in `models/` is used when
present; otherwise an untrained head on the offline default backbone (Gemma 3 270M from PyPI) shows the
path working, with a warning that its tags are random.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

# peft imports bitsandbytes, which on CPUs with AVX512-BF16 tries to fetch a 4-bit CPU kernel from the Hub and logs
# "Failed to load CPU gemm_4bit_forward" when it cannot (offline). This command never runs 4-bit, so that line is
# only noise in front of the spans; other bitsandbytes messages still show.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)

import torch  # noqa: E402
from transformers import pipeline  # noqa: E402

from backbones import default_cache_dir, load_tokenizer, resolve_backbone  # noqa: E402
from export_model import is_adapter_folder, loadable_folder, materialize  # noqa: E402
from modeling_vaner import VanerForTokenClassification  # noqa: E402
from precision import resolve_cpu_dtype, warn_if_slow_bf16  # noqa: E402
from pubtator import read_lines, read_pubtator, write_pubtator  # noqa: E402

SHIPPED_MODEL = Path(__file__).resolve().parent / "models" / "vaner-gemma3-270m"


def untrained_default_model() -> str:
    """A VANER folder on the default backbone with a freshly initialised head (cached after the first call)."""
    target = default_cache_dir() / "untrained-gemma3-270m"
    if not (target / "config.json").is_file():
        location = resolve_backbone()
        model = VanerForTokenClassification.from_backbone(location)
        model.save_pretrained(target)
        load_tokenizer(location).save_pretrained(target)
    return str(target)


def choose_model(model: str | None) -> str:
    if model is not None:
        return loadable_folder(model)
    if is_adapter_folder(SHIPPED_MODEL):
        return str(materialize(SHIPPED_MODEL))
    print("warning: no trained model given or shipped; using an UNTRAINED head (random tags)", file=sys.stderr)
    return untrained_default_model()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("text", nargs="*", help="text to tag (several arguments are several texts)")
    parser.add_argument("--file", type=Path, help="tag each non-empty line of this file")
    parser.add_argument("--model", help="trained VANER folder or Hub id")
    parser.add_argument("--entity-types", nargs="+", help="narrow to these types")
    parser.add_argument("--dataset", help="steer with a training corpus' instruction, e.g. NCBI-disease")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="one JSON list of spans per text")
    output.add_argument("--pubtator", type=Path, metavar="FILE",
                        help="tag each document (title + abstract) of this PubTator file and write it back in PubTator "
                             "format, the model's spans as its annotations (those already in the file are dropped)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "auto"], default="auto",
                        help="weights: auto (default: bfloat16 where the CPU has native bf16, AMX or AVX512-BF16, else "
                             "float32), bfloat16, or float32 (as the published scores were measured). On the shipped "
                             "model bf16 ran 2.5x faster on an AMX Xeon and moved mean dev F1 by -0.02 "
                             "(benchmarks/results/vaner_soup6_bf16_vs_fp32_dev.md); the head stays fp32 either way")
    parser.add_argument("--link", metavar="INDEX",
                        help="add KB concept ids to every span from this linking index (folder or Hub id, "
                             "build_linking_index.py)")
    args = parser.parse_args(argv)
    texts = list(args.text)
    if args.file is not None:
        if not args.file.is_file():
            parser.error(f"--file: no such file: {args.file}")
        try:
            lines = read_lines(args.file)
        except ValueError as error:  # names file and line
            parser.error(f"--file {error}")
        texts += [line for line in lines if line.strip()]
    documents = None
    if args.pubtator is not None:
        if texts:
            parser.error("--pubtator takes its documents from the file: give no text or --file with it")
        if not args.pubtator.is_file():
            parser.error(f"--pubtator: no such file: {args.pubtator}")
        try:
            documents = read_pubtator(args.pubtator)
        except ValueError as error:
            parser.error(f"--pubtator: {error}")
        texts = [document.text for document in documents]
    if not texts:
        hint = " (words after --entity-types are read as types: put the text before it, or after --)" \
            if args.entity_types else ""
        parser.error(f"give a text, --file or --pubtator (a file with at least one document){hint}")
    dtype = resolve_cpu_dtype(args.dtype)
    warn_if_slow_bf16(dtype == "bfloat16", option="--dtype bfloat16")
    ner = pipeline("token-classification", model=choose_model(args.model), trust_remote_code=True,
                   dtype=getattr(torch, dtype))
    options = {k: v for k, v in {"entity_types": args.entity_types, "dataset": args.dataset, "link": args.link}.items()
               if v is not None}
    try:  # the pipeline's own checks (a type or dataset the model does not know, a missing index), before any tagging
        ner._sanitize_parameters(**options)
    except (ValueError, OSError) as error:
        parser.error(str(error))
    # a generator: the pipeline tags 64 texts at a time, so a large file prints as it goes instead of at the end
    results = ner(iter(texts), **options)
    if documents is not None:
        write_pubtator(documents, results, sys.stdout)
        return
    for spans in results:
        if args.json:
            print(json.dumps(spans, ensure_ascii=False))
            continue
        for span in spans:
            ids = " ".join(concept["id"] for concept in span.get("ids", []))
            print(f"{span['start']:>5} {span['end']:>5}  {span['entity_group']:<9} {span['score']:.3f}  {span['word']}"
                  + (f"  [{ids}]" if ids else ""))
        print()


if __name__ == "__main__":
    main()
