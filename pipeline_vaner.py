"""The token-classification pipeline shipped with VANER models: text in, typed spans with character offsets out.

It travels to the Hub with the model (torch, transformers and the standard library only) and is named in
`config.custom_pipelines`, so `pipeline("token-classification", model=..., trust_remote_code=True)` builds it.

Text is split into sentences and words; each sentence is paired with the instruction of every requested
entity type (long sentences cut into overlapping windows); all those sequences, across types and across the
texts of a list, go through the model in length-sorted padded batches; windows are stitched back and word
tags decoded into spans.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import torch
from transformers import Pipeline

try:  # imported as a Hub module
    from .abbreviations_vaner import resolve_abbreviations
    from .configuration_vaner import DECODINGS
    from .linking_vaner import EntityLinker, expand_short_forms, find_abbreviations
    from .processing_vaner import EncodedWindow, Word, decode_spans, encode_windows, merge_windows, repair_tags, split_sentences, split_words, viterbi_tags
except ImportError:  # imported from a source checkout
    from abbreviations_vaner import resolve_abbreviations
    from configuration_vaner import DECODINGS
    from linking_vaner import EntityLinker, expand_short_forms, find_abbreviations
    from processing_vaner import EncodedWindow, Word, decode_spans, encode_windows, merge_windows, repair_tags, split_sentences, split_words, viterbi_tags

__all__ = ["VanerTokenClassificationPipeline", "word_probabilities", "tag_words", "span_or_word_output"]

_TAG_NAMES = ("O", "B", "I")  # the head's tag ids 0, 1, 2


@dataclass(frozen=True)
class _Texts:
    """A batch of texts handled as one pipeline input, so that their sequences share forward batches."""

    texts: tuple[str, ...]


@dataclass
class _Row:
    """One model sequence: a window of one sentence, instructed for one entity type."""

    sentence: int
    entity_type: str
    window: EncodedWindow
    dataset: str | None = None  # the corpus named in the instruction, if any


def word_probabilities(
    model, windows: list[EncodedWindow], pad_token_id: int | None, batch_size: int, device: torch.device | str
) -> list[torch.Tensor]:
    """O/B/I probabilities of every word of every window: length-sorted, right-padded batches, no gradients.

    Shared by the pipeline and by evaluation, so a test sentence is scored exactly as a user sees it tagged.
    """
    result: list[torch.Tensor | None] = [None] * len(windows)
    order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids))
    pad_token_id = 0 if pad_token_id is None else pad_token_id
    with torch.no_grad():
        for batch_start in range(0, len(order), batch_size):
            batch = order[batch_start : batch_start + batch_size]
            width = max(len(windows[i].input_ids) for i in batch)
            input_ids = torch.full((len(batch), width), pad_token_id, dtype=torch.long)
            attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
            for slot, index in enumerate(batch):
                ids = windows[index].input_ids
                input_ids[slot, : len(ids)] = torch.tensor(ids)
                attention_mask[slot, : len(ids)] = 1
            logits = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits
            probs = logits.float().softmax(-1).cpu()
            for slot, index in enumerate(batch):
                result[index] = probs[slot, windows[index].word_token_index]
    return result


def tag_words(probs: torch.Tensor, o_bias: float = 0.0, decoding: str = "argmax") -> tuple[list[int], torch.Tensor]:
    """O/B/I tags (`o_bias` added to the O log-probability) and the probability of each chosen tag.

    A positive `o_bias` asks for surer spans: a model that over-tags (precision below recall) is corrected
    without retraining; `config.o_bias` holds one per entity type, tuned on dev splits (calibrate_o_bias.py).
    `decoding` (`config.decoding`): `"argmax"` per word, or `"viterbi"` for the best IOB2-valid sequence.
    Shared by the pipeline and by evaluation, so scores are those of the spans a user sees.
    """
    scores = probs.float().clamp_min(1e-12).log()
    if o_bias:
        scores[:, 0] += o_bias
    if decoding == "viterbi":
        tags = torch.tensor(viterbi_tags(scores.tolist()), dtype=torch.long)
    elif decoding == "argmax":
        tags = scores.argmax(-1)
    else:
        raise ValueError(f"decoding {decoding!r}: expected one of {DECODINGS}")
    return tags.tolist(), chosen_tag_probabilities(probs, tags)


def chosen_tag_probabilities(probs: torch.Tensor, tags: torch.Tensor | list[int]) -> torch.Tensor:
    """The probability of each word's tag: a span's score is their mean over its words."""
    return probs.gather(-1, torch.as_tensor(tags, dtype=torch.long).unsqueeze(-1)).squeeze(-1)


def span_or_word_output(aggregation_strategy: Any) -> str:
    """`"spans"` or `"words"` for transformers' `aggregation_strategy` (a string or its `AggregationStrategy` enum).

    The model tags whole words (on their first sub-token), so there are no sub-token scores to pool:
    `"simple"` and `"first"` give the entity spans (the default), `"none"` one entry per tagged word.
    """
    name = str(getattr(aggregation_strategy, "value", aggregation_strategy)).lower()
    if name in ("simple", "first"):
        return "spans"
    if name == "none":
        return "words"
    raise ValueError(
        f"aggregation_strategy={aggregation_strategy!r}: this model tags whole words, so 'simple' or 'first' give "
        "entity spans (the default) and 'none' gives one entry per tagged word; 'average' and 'max' pool sub-token "
        "scores, which it does not have"
    )


class VanerTokenClassificationPipeline(Pipeline):
    """Biomedical NER for every entity type the model knows, with no instruction written by the user.

    Call arguments (also accepted when building the pipeline):
        entity_types (`str` or `list[str]`, *optional*): narrow to these types (default: all of
            `model.config.entity_types`); an unknown type raises `ValueError` listing the known ones.
        dataset (`str`, *optional*): steer with a training corpus' instruction (e.g. `"NCBI-disease"`); tags only
            that corpus' entity type unless `entity_types` says otherwise.
        forward_batch_size (`int`, *optional*, defaults to 32): sequences per forward pass; transformers'
            `batch_size` means the same here (texts are batched into sequences, one per sentence, type and window).
        link (`bool`, `str` or `EntityLinker`, *optional*, defaults to `False`): add KB concept ids to every span;
            `True` uses `model.config.linking_index`, a string names a linking index folder or Hub repo
            (`build_linking_index.py`), a ready `EntityLinker` is used as it is (e.g. after `add_names` gave it a
            dictionary: a corpus's annotations, your own synonyms). Abbreviations defined in the text (`long form (SF)`) are linked
            through their long form; a coordinated span (`breast and ovarian cancer`) gets one id per conjunct.
        link_top_k (`int`, *optional*, defaults to 1): concept ids per span (a coordinated span: at least one per
            conjunct).
        link_id_prefixes (`list[str]`, *optional*): keep only ids of these vocabularies (e.g. `["MESH"]`); by
            default every vocabulary of the index competes.
        resolve_abbreviations (`bool`, *optional*, defaults to `model.config.resolve_abbreviations`): tag each short
            form defined in a text (`pregnenolone sulfate (PREGS)`) as its long form is tagged, there and wherever it
            occurs later in the same text, so pass a whole abstract rather than sentence by sentence.

        aggregation_strategy (`str`, *optional*, defaults to `"simple"`): as in transformers' token-classification
            pipeline: `"simple"` (or `"first"`) groups tagged words into entity spans; `"none"` returns every tagged
            word on its own (see `span_or_word_output`).

    Returns, per text, a list of `{"entity_group", "word", "start", "end", "score"}` sorted by position;
    `text[start:end] == word`. With `link`, each span also has `"ids": [{"id", "name", "score"}, ...]`.
    With `aggregation_strategy="none"`: `{"entity", "score", "index", "word", "start", "end"}` per tagged word,
    `entity` being `B-<type>` or `I-<type>` and `index` the word's position among the text's words.
    """

    _load_tokenizer = True
    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_video_processor = False
    texts_per_call = 64

    def _sanitize_parameters(
        self,
        entity_types: str | list[str] | None = None,
        dataset: str | None = None,
        forward_batch_size: int | None = None,
        link: bool | str | EntityLinker | None = None,
        link_top_k: int | None = None,
        link_id_prefixes: list[str] | None = None,
        resolve_abbreviations: bool | None = None,
        aggregation_strategy: Any = None,
        **unused: Any,
    ) -> tuple[dict, dict, dict]:
        if unused:
            raise TypeError(f"VanerTokenClassificationPipeline got unexpected argument(s): {sorted(unused)}")
        # only what this call (or the construction) gives: transformers lays a call's settings over the construction's
        # key by key, so a key set to None here would erase a setting made when the pipeline was built
        preprocess: dict[str, Any] = {}
        if entity_types is not None:
            preprocess["entity_types"] = self._checked_types(entity_types)
        if dataset is not None:
            if dataset not in self.model.config.dataset_names:
                raise ValueError(f"Unknown dataset {dataset!r}; this model knows {list(self.model.config.dataset_names)}")
            preprocess["dataset"] = dataset
        forward = {} if forward_batch_size is None else {"forward_batch_size": int(forward_batch_size)}
        if forward.get("forward_batch_size", 1) < 1:
            raise ValueError(f"forward_batch_size must be >= 1, got {forward_batch_size}")
        postprocess: dict[str, Any] = {}
        if resolve_abbreviations is not None:
            postprocess["resolve_abbreviations"] = bool(resolve_abbreviations)
        if aggregation_strategy is not None:
            postprocess["output"] = span_or_word_output(aggregation_strategy)
        if link is not None:  # link=False in a call turns off a linker given at construction
            postprocess["linker"] = self._linker(link) if link is not False else None
        if link_top_k is not None:
            if int(link_top_k) < 1:
                raise ValueError(f"link_top_k must be >= 1, got {link_top_k}")
            postprocess["link_top_k"] = int(link_top_k)
        if link_id_prefixes is not None:
            postprocess["link_id_prefixes"] = [link_id_prefixes] if isinstance(link_id_prefixes, str) else list(link_id_prefixes)
        return preprocess, forward, postprocess

    def _linker(self, link: bool | str | EntityLinker) -> EntityLinker:
        """The entity linker for `link` (True: the config's index), loaded once per pipeline; a ready linker (e.g.
        one given a dictionary with `add_names`) is used as it is."""
        if not isinstance(link, (bool, str, os.PathLike)):
            if not callable(getattr(link, "link", None)):
                raise TypeError(f"link must be True, an index folder / Hub repo or an EntityLinker, got {type(link).__name__}")
            return link
        location = self.model.config.linking_index if link is True else link
        if not location:
            raise ValueError("link=True needs model.config.linking_index; pass link='index folder or Hub repo'")
        linkers = self.__dict__.setdefault("_linkers", {})
        if location not in linkers:
            linkers[location] = EntityLinker.from_pretrained(location)
        return linkers[location]

    def _checked_types(self, entity_types: str | list[str]) -> list[str]:
        types = self.model.config.check_entity_types(entity_types)
        if not types:
            raise ValueError(f"entity_types is empty; this model knows {list(self.model.config.entity_types)}")
        return types

    def __call__(self, inputs: str | Iterable[str], **kwargs: Any):
        if kwargs.get("batch_size") is not None:  # a call's batch_size sizes the forward passes (see _forward)
            kwargs.setdefault("forward_batch_size", kwargs["batch_size"])
        kwargs.pop("batch_size", None)
        if isinstance(inputs, str):
            return super().__call__(_Texts((inputs,)), **kwargs)[0]
        if isinstance(inputs, (list, tuple)):
            return list(self._stream(inputs, **kwargs))
        return self._stream(inputs, **kwargs)

    def _stream(self, texts: Iterable[str], **kwargs: Any) -> Iterator[list[dict]]:
        iterator = iter(texts)
        first = 0
        while chunk := tuple(itertools.islice(iterator, self.texts_per_call)):
            for position, text in enumerate(chunk, start=first):
                if not isinstance(text, str):
                    raise TypeError(f"input {position} is {type(text).__name__}, expected str")
            first += len(chunk)
            yield from super().__call__(_Texts(chunk), **kwargs)

    def preprocess(self, inputs: _Texts, entity_types: list[str] | None = None, dataset: str | None = None) -> dict:
        config = self.model.config
        dataset_type = config.dataset_entity_types.get(dataset) if dataset is not None else None
        if entity_types is None:  # a dataset alone narrows to its corpus' type
            entity_types = [dataset_type] if dataset_type is not None else list(config.entity_types)
        sentences: list[tuple[int, list[Word]]] = []
        rows: list[_Row] = []
        for text_index, text in enumerate(inputs.texts):
            read: list[list[str]] = []  # the text's sentences so far: context for a model that reads some
            for start, end in split_sentences(text):
                words = split_words(text, start, end)
                if not words:
                    continue
                sentence = len(sentences)
                sentences.append((text_index, words))
                word_texts = [w.text for w in words]
                for entity_type in entity_types:
                    steer = dataset if dataset is not None and dataset_type in (None, entity_type) else None
                    instruction = config.render_with_context(config.render_instruction(entity_type, steer), read)
                    for window in encode_windows(
                        self.tokenizer, instruction, word_texts, None, config.max_length, config.stride
                    ):
                        rows.append(_Row(sentence, entity_type, window, steer))
                read.append(word_texts)
        return {"texts": inputs.texts, "sentences": sentences, "rows": rows}

    def _forward(self, model_inputs: dict, forward_batch_size: int | None = None) -> dict:
        # transformers keeps `pipeline(..., batch_size=N)` to itself (it batches inputs, which run here as one);
        # it is the natural way to cap memory, so it sizes the forward passes unless forward_batch_size is given
        batch = forward_batch_size if forward_batch_size is not None else self._batch_size or 32
        if batch < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch}")
        windows = [row.window for row in model_inputs["rows"]]
        word_probs = word_probabilities(self.model, windows, self.tokenizer.pad_token_id, batch, self.device)
        return {**model_inputs, "word_probs": word_probs}

    def postprocess(
        self,
        model_outputs: dict,
        linker: EntityLinker | None = None,
        link_top_k: int = 1,
        link_id_prefixes: list[str] | None = None,
        resolve_abbreviations: bool | None = None,
        output: str = "spans",
    ) -> list[list[dict]]:
        if output == "words" and linker is not None:  # checked here: either may have been set at construction
            raise ValueError("link needs entity spans: drop aggregation_strategy='none' or link=")
        texts, sentences = model_outputs["texts"], model_outputs["sentences"]
        config = self.model.config
        grouped: dict[tuple[int, str], list[tuple[_Row, torch.Tensor]]] = {}
        for row, probs in zip(model_outputs["rows"], model_outputs["word_probs"]):
            grouped.setdefault((row.sentence, row.entity_type), []).append((row, probs))
        decoded: dict[tuple[int, str], tuple[list[int], torch.Tensor]] = {}
        for (sentence, entity_type), windows in grouped.items():
            words = sentences[sentence][1]
            probs = torch.stack(
                merge_windows(
                    len(words), [(r.window.word_start, r.window.word_end) for r, _ in windows], [p for _, p in windows]
                )
            )
            named = windows[0][0].dataset is not None
            tags, _ = tag_words(probs, config.bias_for(entity_type, named), config.decoding)
            decoded[(sentence, entity_type)] = (repair_tags(tags), probs)
        if config.resolve_abbreviations if resolve_abbreviations is None else resolve_abbreviations:
            _resolve_abbreviations_per_text(sentences, decoded)
        if output == "words":
            return _tagged_words(texts, sentences, decoded)
        results: list[list[dict]] = [[] for _ in texts]
        for (sentence, entity_type), (tags, probs) in decoded.items():
            text_index, words = sentences[sentence]
            confidence = chosen_tag_probabilities(probs, tags)  # of the tags after abbreviation resolution
            for first, last in decode_spans(tags):
                start, end = words[first].start, words[last - 1].end
                results[text_index].append(
                    {
                        "entity_group": entity_type,
                        "word": texts[text_index][start:end],
                        "start": start,
                        "end": end,
                        "score": float(confidence[first:last].mean()),
                    }
                )
        for spans in results:
            spans.sort(key=lambda span: (span["start"], -span["end"], span["entity_group"]))
        if linker is not None:
            _add_concept_ids(texts, results, linker, link_top_k, link_id_prefixes)
        return results


def _tagged_words(
    texts: tuple[str, ...],
    sentences: list[tuple[int, list[Word]]],
    decoded: dict[tuple[int, str], tuple[list[int], torch.Tensor]],
) -> list[list[dict]]:
    """`aggregation_strategy="none"`: every word tagged B or I, per text, sorted by position then type."""
    first_index, seen = [], [0] * len(texts)  # each sentence's first word, counted over its text's words
    for text_index, words in sentences:
        first_index.append(seen[text_index])
        seen[text_index] += len(words)
    results: list[list[dict]] = [[] for _ in texts]
    for (sentence, entity_type), (tags, probs) in decoded.items():
        text_index, words = sentences[sentence]
        confidence = chosen_tag_probabilities(probs, tags)
        for position, (word, tag) in enumerate(zip(words, tags)):
            if _TAG_NAMES[tag] != "O":
                results[text_index].append(
                    {
                        "entity": f"{_TAG_NAMES[tag]}-{entity_type}",
                        "score": float(confidence[position]),
                        "index": first_index[sentence] + position,
                        "word": word.text,
                        "start": word.start,
                        "end": word.end,
                    }
                )
    for entries in results:
        entries.sort(key=lambda entry: (entry["start"], entry["entity"][2:]))
    return results


def _resolve_abbreviations_per_text(
    sentences: list[tuple[int, list[Word]]], decoded: dict[tuple[int, str], tuple[list[int], torch.Tensor]]
) -> None:
    """Apply `resolve_abbreviations` to each text's sentences (in order), separately for each entity type."""
    per_text: dict[tuple[int, str], list[int]] = {}
    for sentence, entity_type in sorted(decoded):
        per_text.setdefault((sentences[sentence][0], entity_type), []).append(sentence)
    for (_, entity_type), members in per_text.items():
        words = [[word.text for word in sentences[sentence][1]] for sentence in members]
        tags = [decoded[(sentence, entity_type)][0] for sentence in members]
        for sentence, resolved in zip(members, resolve_abbreviations(words, tags)):
            decoded[(sentence, entity_type)] = (resolved, decoded[(sentence, entity_type)][1])


def _add_concept_ids(
    texts: tuple[str, ...], results: list[list[dict]], linker: EntityLinker, top_k: int, id_prefixes: list[str] | None
) -> None:
    """Link every span in one batched call; short forms defined in its text are linked by their long forms."""
    spans = [span for spans in results for span in spans]
    mentions = []
    for text, text_spans in zip(texts, results):
        abbreviations = find_abbreviations(text) if text_spans else {}
        mentions += [expand_short_forms(span["word"], abbreviations) for span in text_spans]
    types = [span["entity_group"] for span in spans]
    for span, ids in zip(spans, linker.link(mentions, types, top_k=top_k, id_prefixes=id_prefixes)):
        span["ids"] = ids
