"""Tokenizers: a local folder for real models, or a small T5-style one generated in memory.

The generated tokenizer exists so the tiny configs build with no download and no file: it mimics what
matters of Flan-T5's SentencePiece model (``<pad>``=0, ``</s>``=1, ``<unk>``=2, a bare ``▁`` piece, ``▁``-prefixed
words, whole numbers as single pieces, ``<extra_id_N>`` sentinels, ``</s>`` appended), with a vocabulary of
about 1.5k pieces instead of 32k.

One deliberate difference: a number always gets its own ``▁``-prefixed piece, even after a bracket, so ``82``
is the same token in the prompt's timestamps and in the answer ``[[ 82, 150]]``. Flan-T5 writes ``[[82`` with a
bare ``82`` piece, and knows from pre-training that it means the same as ``▁82``; a tiny model trained from
scratch would first have to learn that for every number.
"""

from __future__ import annotations

import string
from pathlib import Path

from lavis.common.errors import ConfigError

TINY = "tiny"

# Prompt words, the synthetic demo's vocabulary and a few hundred common English words.
_WORDS = """
Query Given the video and query find relevant windows Relevant Question Options Option Answer Considering
information presented in frames select correct answer from options Is this a good frame for answering
question yes no Yes No Video Frame Frames Audio Transcript Captions Caption
a an the of to in on at by for with from into over under after before during while then than as is are was
were be been being has have had do does did not no yes it its this that these those there here what which who
whom whose when where why how all any both each few more most other some such only own same so too very can
will just should now person man woman people boy girl child dog cat car ball door room table chair book phone
light window food water hand hands head camera screen picture shows show appears appear appearing disappears
turns turn becomes become moves move moving starts start stops stop opens open closes close holds hold holding
takes take puts put sits sit stands stand walks walk runs run talks talk looks look plays play eats eat drinks
drink cooks cook laughs laugh smiles smile red green blue yellow white black orange purple pink gray grey brown
cyan magenta circle square box triangle star stripe stripes bar flash flashes bright dark background
foreground left right top bottom middle center corner big small large tiny shape shapes color colour colors
colours bouncing bounces spinning glowing blinking sliding slides grows shrinks visible hidden scene clip
first second third last again once twice time times event events moment moments window begins ends end
""".split()

_PUNCT = list("[](),.:;!?'\"-_/<>=+*&%$#@{}|~`^") + ["\\"]


def _pieces(max_number: int) -> list[str]:
    pieces: list[str] = []

    def add(piece: str) -> None:
        if piece not in seen:
            seen.add(piece)
            pieces.append(piece)

    seen: set[str] = set()
    for word in _WORDS:
        add("▁" + word)
        add(word)
    for n in range(max_number + 1):
        add("▁" + str(n))
    for ch in string.ascii_letters + string.digits:
        add("▁" + ch)
        add(ch)
    for ch in _PUNCT:
        add("▁" + ch)
        add(ch)
    return pieces


def build_tiny_t5_tokenizer(max_number: int = 400, num_extra_ids: int = 10):
    """A deterministic T5-style tokenizer (a few thousand pieces) built without any file or download."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "</s>", "<unk>"]
    # Every piece scores the same, so segmentation prefers the fewest pieces (whole words, whole numbers).
    vocab = [(s, 0.0) for s in specials] + [("▁", -2.0)] + [(p, -1.0) for p in _pieces(max_number)]
    tok = Tokenizer(Unigram(vocab, unk_id=2, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Replace(Regex(r"(?<=[^\s\d])(?=\d)"), " "),  # a number starts a new word
            normalizers.Replace(Regex(r"\s+"), " "),
            normalizers.Strip(),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)])
    extra = [f"<extra_id_{i}>" for i in range(num_extra_ids)]
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        additional_special_tokens=extra,
    )


def build_tiny_llama_tokenizer(max_number: int = 400):
    """A LLaMA-style tokenizer (``<unk>``=0, ``<s>``=1, ``</s>``=2, ``<s>`` prepended) built in memory.

    The same pieces as the T5-style one; what differs is the special-token layout a causal LM relies on.
    """
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>"]
    vocab = [(s, 0.0) for s in specials] + [("▁", -2.0)] + [(p, -1.0) for p in _pieces(max_number)]
    tok = Tokenizer(Unigram(vocab, unk_id=0, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [normalizers.Replace(Regex(r"(?<=[^\s\d])(?=\d)"), " "), normalizers.Replace(Regex(r"\s+"), " "),
         normalizers.Strip()]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def build_tiny_bert_tokenizer():
    """A BERT WordPiece tokenizer (``[PAD]``=0, ``[UNK]``, ``[CLS]``, ``[SEP]``, ``[MASK]``, lower case) in memory.

    For the Q-Former's instruction input in tiny configs; the real one is ``bert-base-uncased``'s vocab.
    """
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = sorted({w.lower() for w in _WORDS})
    pieces = specials + words + [str(n) for n in range(100)] + list(string.ascii_lowercase)
    pieces += ["##" + c for c in string.ascii_lowercase + string.digits] + _PUNCT
    vocab = {p: i for i, p in enumerate(dict.fromkeys(pieces))}
    tok = Tokenizer(WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]",
    )


TINY_BUILDERS = {"t5": build_tiny_t5_tokenizer, "llama": build_tiny_llama_tokenizer, "bert": build_tiny_bert_tokenizer}


def load_tokenizer(path: str | None, style: str = "t5"):
    """``"tiny"`` → a generated tokenizer of ``style`` (t5 | llama | bert); otherwise a local folder.

    A folder may hold a transformers tokenizer, a bare SentencePiece ``tokenizer.model`` (LLaMA) or a
    WordPiece ``vocab.txt`` (BERT). Nothing is fetched from the network.
    """
    if path == TINY:
        return TINY_BUILDERS[style]()
    if not path:
        raise ConfigError("no tokenizer configured: give a local tokenizer folder or 'tiny'")
    folder = Path(path)
    if not folder.is_dir():
        raise ConfigError(
            f"Tokenizer folder not found: {folder}. Download the model's tokenizer files (tokenizer.json / "
            "spiece.model / tokenizer.model / vocab.txt) into it; nothing is fetched from the network at run time."
        )
    try:
        if not (folder / "tokenizer_config.json").is_file() and style in ("bert", "llama"):
            # a bare vocab.txt (BERT) or SentencePiece tokenizer.model (LLaMA): the class tells the format
            from transformers import BertTokenizer, LlamaTokenizer

            return (BertTokenizer if style == "bert" else LlamaTokenizer).from_pretrained(str(folder))
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception as err:
        raise ConfigError(f"Cannot load a tokenizer from {folder}: {str(err).splitlines()[0]}") from None


def add_qformer_bos(tokenizer) -> None:
    """BLIP-2 adds ``[DEC]`` as the Q-Former tokenizer's bos token (vocabulary 30522 → 30523)."""
    if tokenizer.bos_token != "[DEC]":
        tokenizer.add_special_tokens({"bos_token": "[DEC]"})
