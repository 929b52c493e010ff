"""The medspaCy pipeline: sentences, concepts, note sections and ConText.

A blank English spaCy model (no statistical model, nothing downloaded), then:

1. ``ketascreen_sentences``: sentence starts from punctuation and line structure. Notes
   break lines for lists and headings and often drop full stops; a wrapped line that
   goes on in lower case stays in its sentence. (PyRuSH is not used: it is slower and
   joined "Pt denies SI. Hx bipolar" into one sentence, which let "denies" reach
   "bipolar".)
2. ``medspacy_target_matcher``: the concepts of ``data/nlp/concepts``.
3. ``medspacy_sectionizer``: the headings of ``data/nlp/sections.yaml``.
4. ``medspacy_context``: ConText with the rules of ``data/nlp/context.yaml``.
"""

from __future__ import annotations

import logging
import re
import warnings
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ketascreen.nlp.rules import NlpContent, load_nlp_content

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

_SENTENCE_END = frozenset({".", "!", "?"})
_GOES_ON = frozenset(
    "a an the and or but nor with without of to for in on at by from into than that "
    "which who whom whose as is are was were be been being has have had do does did "
    "not no denies denied endorses endorsed reports reported her his their my your "
    "our its this these those very also including includes such like about after "
    "before since until while because if when where whether per w/ s/p h/o c/o "
    "x hx".split()
)
_BULLET = re.compile(r"^(?:[-*•·‣◦▪–]|\d{1,2}[.)]|[a-z][.)])$")


def _quiet_imports() -> None:
    """Import spaCy and medspaCy without their import-time noise.

    spaCy 3.7 imports a click helper that click 8.2 deprecates; PyRuSH (pulled in by
    medspaCy) logs every sentence at DEBUG through loguru.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        import medspacy  # noqa: F401
        import spacy  # noqa: F401
    try:
        from loguru import logger  # medspaCy's PyRuSH logs through loguru

        logger.disable("PyRuSH")
    except ImportError:  # pragma: no cover - loguru comes with PyRuSH
        pass
    logging.getLogger("PyRuSH").setLevel(logging.WARNING)


def split_sentences(doc: Doc) -> Doc:
    """Mark sentence starts from punctuation and line breaks (a spaCy component)."""
    tokens = list(doc)
    if not tokens:
        return doc
    tokens[0].is_sent_start = True
    start_next = False
    for index in range(1, len(tokens)):
        token = tokens[index]
        if token.is_space:
            token.is_sent_start = False
            if "\n" in token.text and _breaks(tokens, index, token.text):
                start_next = True
            continue
        if tokens[index - 1].text in _SENTENCE_END:
            start_next = True
        token.is_sent_start = start_next
        start_next = False
    return doc


def _breaks(tokens: list[Any], index: int, space: str) -> bool:
    """Does a line break at ``index`` end the sentence?"""
    if space.count("\n") > 1:
        return True
    before = _previous_word(tokens, index)
    after = _next_word(tokens, index)
    if before is None or after is None:
        return True
    if _BULLET.match(after.text) or after.text.isupper() or after.is_title:
        return True
    # A line wrapped mid-sentence ends on a word that cannot end one ("denies",
    # "and", "of") or a comma; any other line break ends the sentence, as people
    # writing on a phone rarely use full stops.
    return not (before.text in (",", "-", "(", "/") or before.lower_ in _GOES_ON)


def _previous_word(tokens: list[Any], index: int) -> Any:
    for token in reversed(tokens[: index + 1]):
        if not token.is_space:
            return token
    return None


def _next_word(tokens: list[Any], index: int) -> Any:
    for token in tokens[index + 1 :]:
        if not token.is_space:
            return token
    return None


@lru_cache(maxsize=1)
def build_pipeline() -> Language:
    """The note pipeline, built once per process."""
    _quiet_imports()
    import spacy
    from medspacy.ner import TargetRule
    from medspacy.section_detection import SectionRule
    from spacy.language import Language

    from ketascreen.nlp.context import add_context

    if "ketascreen_sentences" not in Language.factories:
        Language.component("ketascreen_sentences", func=split_sentences)
    content = load_nlp_content()
    nlp = spacy.blank("en")
    nlp.add_pipe("ketascreen_sentences")
    matcher = nlp.add_pipe(
        "medspacy_target_matcher", config={"phrase_matcher_attr": "LOWER"}
    )
    matcher.add(_target_rules(content, TargetRule))
    sectionizer = nlp.add_pipe("medspacy_sectionizer", config={"rules": None})
    sectionizer.add(
        [
            SectionRule(literal=f"{title}:", category=section.category)
            for section in content.sections
            for title in section.titles
        ]
    )
    add_context(nlp)
    return nlp


def _target_rules(content: NlpContent, rule: Any) -> list[Any]:
    rules: list[Any] = []
    for concept in content.concepts.values():
        for term in _spellings(concept.terms):
            rules.append(rule(literal=term, category=concept.id))
        for exact in concept.exact:
            pattern = [{"TEXT": part} for part in _exact_tokens(exact)]
            rules.append(rule(literal=exact, category=concept.id, pattern=pattern))
        for number, pattern in enumerate(concept.patterns):
            rules.append(
                rule(literal=f"{concept.id}#{number}", category=concept.id, pattern=pattern)
            )
        for regex in concept.regex:
            rules.append(
                rule(literal=regex, category=concept.id, pattern=f"(?i){regex}")
            )
    return rules


def _spellings(terms: list[str]) -> list[str]:
    """Each term as written, and as typed without apostrophes or with curly ones."""
    out: dict[str, None] = {}
    for term in terms:
        out[term] = None
        if "'" in term:
            out[term.replace("'", "")] = None
            out[term.replace("'", "\u2019")] = None
    return list(out)


@lru_cache(maxsize=None)
def _tokenizer() -> Any:
    _quiet_imports()
    import spacy

    return spacy.blank("en").tokenizer


def _exact_tokens(text: str) -> list[str]:
    return [token.text for token in _tokenizer()(text)]
