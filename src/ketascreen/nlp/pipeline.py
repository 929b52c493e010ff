"""The medspaCy pipeline: sentences, concepts, note sections and ConText.

A blank English spaCy model (no statistical model, nothing downloaded), then:

1. ``ketascreen_sentences``: sentence starts from punctuation and line structure. Notes
   break lines for lists and headings and often drop full stops; a wrapped line that
   goes on in lower case stays in its sentence. (PyRuSH is not used: it is slower and
   joined "Pt denies SI. Hx bipolar" into one sentence, which let "denies" reach
   "bipolar".)
2. ``medspacy_target_matcher``: the concepts of ``data/nlp/concepts``.
3. ``ketascreen_sections``: the headings of ``data/nlp/sections.yaml`` (phrase matching
   as medspaCy's Sectionizer does, without its per-token attributes).
4. ``medspacy_context``: ConText with the rules of ``data/nlp/context.yaml``.
"""

from __future__ import annotations

import logging
import re
import warnings
from bisect import bisect_right
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ketascreen.nlp.prefilter import NoteText, guard
from ketascreen.nlp.rules import NlpContent, load_nlp_content

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

_GOES_ON = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "nor",
        "with",
        "without",
        "of",
        "to",
        "for",
        "in",
        "on",
        "at",
        "by",
        "from",
        "into",
        "than",
        "that",
        "which",
        "who",
        "whom",
        "whose",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "has",
        "have",
        "had",
        "do",
        "does",
        "did",
        "not",
        "no",
        "denies",
        "denied",
        "endorses",
        "endorsed",
        "reports",
        "reported",
        "her",
        "his",
        "their",
        "my",
        "your",
        "our",
        "its",
        "this",
        "these",
        "those",
        "very",
        "also",
        "including",
        "includes",
        "such",
        "like",
        "about",
        "after",
        "before",
        "since",
        "until",
        "while",
        "because",
        "if",
        "when",
        "where",
        "whether",
        "per",
        "w/",
        "s/p",
        "h/o",
        "c/o",
        "x",
        "hx",
    ]
)
_BULLET = re.compile(r"^(?:[-*•·‣◦▪–]|\d{1,2}[.)]|[a-z][.)])")


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


TEXT_KEY = "ketascreen_text"


def doc_text(doc: Doc) -> str:
    """The doc's text, kept once in ``user_data`` (``Doc.text`` is rebuilt per call)."""
    text = doc.user_data.get(TEXT_KEY)
    if not isinstance(text, str):
        text = doc.text
        doc.user_data[TEXT_KEY] = text
    return text


NOTE_KEY = "ketascreen_note"


def note_text(doc: Doc) -> NoteText:
    """The doc's text read once for guarded patterns, kept in ``user_data``."""
    note = doc.user_data.get(NOTE_KEY)
    if not isinstance(note, NoteText):
        note = NoteText(doc_text(doc))
        doc.user_data[NOTE_KEY] = note
    return note


def split_sentences(doc: Doc) -> Doc:
    """Mark sentence starts from punctuation and line breaks (a spaCy component).

    Works on the text with regular expressions and maps offsets to tokens, which is
    several times faster than visiting every token from Python.
    """
    if len(doc) == 0:
        return doc
    text = doc_text(doc)
    starts = doc.to_array("IDX").tolist()
    token_at = {offset: index for index, offset in enumerate(starts)}
    doc[0].is_sent_start = True
    for match in _AFTER_END.finditer(text):
        # "Dr." and "e.g." are one token; only a stop that is its own token ends
        index = token_at.get(match.end())
        if index is not None and token_at.get(match.start()) is not None:
            doc[index].is_sent_start = True
    for match in _LINE_BREAK.finditer(text):
        index = token_at.get(match.end())
        if index is not None and _breaks(text, match):
            doc[index].is_sent_start = True
    for match in _HISTORY_START.finditer(text):
        # "pt denies si hx bipolar": with no stop, a history heading starts a sentence
        # unless the word before leads into it ("denies hx of", "a hx of")
        index = token_at.get(match.end())
        before = _LAST_WORD.search(text, max(0, match.start() - 40), match.start())
        if (
            index is not None
            and before is not None
            and before.group(1).lower() not in _GOES_ON
            and before.group(1)[-1] not in ",-(/"
        ):
            doc[index].is_sent_start = True
    if len(doc) > 1 and doc[1].is_sent_start is None:
        doc[1].is_sent_start = False  # so spaCy sees the boundaries as set
    return doc


_AFTER_END = re.compile(r"[.!?]+[\"\u201d')\]]*\s+(?=\S)")
_LINE_BREAK = re.compile(r"[ \t]*\n\s*(?=\S)")
_HISTORY_START = re.compile(
    r"\s+(?=(?:hx|h/o|pmh|pmhx|pph|psh|fhx?|meds|allergies)\b(?!\s*:))", re.IGNORECASE
)
_LAST_WORD = re.compile(r"(\S+)\s*$")
_FIRST_WORD = re.compile(r"(\S+)")


def _breaks(text: str, match: re.Match[str]) -> bool:
    """Does this line break end the sentence?"""
    if match.group(0).count("\n") > 1:
        return True
    before = _LAST_WORD.search(text, max(0, match.start() - 40), match.start())
    after = _FIRST_WORD.match(text, match.end(), match.end() + 40)
    if before is None or after is None:
        return True
    word = after.group(1)
    if _BULLET.match(word):
        return True
    # A line wrapped mid-sentence ends on a word that cannot end one ("denies",
    # "and", "of") or a comma; any other line break ends the sentence, as people
    # writing on a phone rarely use full stops.
    last = before.group(1)
    return not (last[-1] in ",-(/" or last.lower() in _GOES_ON)


@lru_cache(maxsize=1)
def build_pipeline() -> Language:
    """The note pipeline, built once per process."""
    _quiet_imports()
    import spacy
    from medspacy.ner import TargetRule
    from spacy.language import Language

    from ketascreen.nlp.context import add_context

    if "ketascreen_sentences" not in Language.factories:
        Language.component("ketascreen_sentences", func=split_sentences)
    content = load_nlp_content()
    nlp = spacy.blank("en")
    nlp.add_pipe("ketascreen_sentences")
    # Matches go to a span group; the next component sets doc.ents once (adding
    # entities one at a time, as result_type "ents" does, was a third of the time).
    matcher: Any = nlp.add_pipe(
        "medspacy_target_matcher",
        config={"phrase_matcher_attr": "LOWER", "result_type": "group"},
    )
    matcher.add(_target_rules(content, TargetRule))
    # Abbreviations match only as written ("SI", not "si" in other words): a second
    # phrase matcher on the exact text (a token pattern per abbreviation was slower).
    exact: Any = nlp.add_pipe(
        "medspacy_target_matcher",
        name="ketascreen_exact_matcher",
        config={"phrase_matcher_attr": "ORTH", "result_type": "group"},
    )
    exact.add(
        [
            TargetRule(literal=term, category=concept.id)
            for concept in content.concepts.values()
            for term in concept.exact
        ]
    )
    if "ketascreen_regex_targets" not in Language.factories:
        Language.component("ketascreen_regex_targets", func=_RegexTargets(content))
    nlp.add_pipe("ketascreen_regex_targets")
    if "ketascreen_sections" not in Language.factories:
        Language.component("ketascreen_sections", func=_Sections(nlp, content))
    nlp.add_pipe("ketascreen_sections")
    add_context(nlp)
    return nlp


def _target_rules(content: NlpContent, rule: Any) -> list[Any]:
    rules: list[Any] = []
    for concept in content.concepts.values():
        for term in _spellings(concept.terms):
            rules.append(rule(literal=term, category=concept.id))
        for number, pattern in enumerate(concept.patterns):
            rules.append(
                rule(
                    literal=f"{concept.id}#{number}",
                    category=concept.id,
                    pattern=pattern,
                )
            )
    return rules


_GROUP = "medspacy_spans"
SECTIONS = "ketascreen_sections"


class _Sections:
    """Note headings ("PMH:", "Family Hx:") as spans in ``doc.spans["ketascreen_sections"]``.

    medspaCy's Sectionizer does the same matching but then writes a section attribute
    on every token, which cost a third of the scanner's time; the scanner only needs
    the heading before each mention (:func:`section_at`).
    """

    def __init__(self, nlp: Language, content: NlpContent) -> None:
        from spacy.matcher import PhraseMatcher

        self.matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        for section in content.sections:
            self.matcher.add(
                section.category,
                [nlp.make_doc(f"{title}:") for title in section.titles],
            )

    def __call__(self, doc: Doc) -> Doc:
        from spacy.tokens import Span
        from spacy.util import filter_spans

        found = [Span(doc, s, e, label=m) for m, s, e in self.matcher(doc)]
        doc.spans[SECTIONS] = sorted(filter_spans(found), key=lambda span: span.start)
        return doc


class SectionIndex:
    """Which heading each token falls under, for one doc (built once)."""

    def __init__(self, doc: Doc) -> None:
        spans = doc.spans.get(SECTIONS, ())
        self.starts = [span.start for span in spans]
        self.labels = [str(span.label_) for span in spans]

    def at(self, token_index: int) -> str | None:
        """The category of the heading before this token, if any."""
        index = bisect_right(self.starts, token_index) - 1
        return self.labels[index] if index >= 0 else None


class _RegexTargets:
    """Concept regexes over the note text; with the phrase matches, the entities.

    Overlapping matches keep the longest ("no seizures since 2020" over "seizures").

    medspaCy's own regex rules read ``doc.text`` once per rule; one pass here reads
    it once per note, which made the scanner several times faster.
    """

    def __init__(self, content: NlpContent) -> None:
        self.patterns = [
            (
                guard(regex)
                if isinstance(regex, str)
                else guard(regex.pattern, regex.needles),
                concept.id,
            )
            for concept in content.concepts.values()
            for regex in concept.regex
        ]

    def __call__(self, doc: Doc) -> Doc:
        from spacy.util import filter_spans

        note = note_text(doc)
        spans = []
        for guarded, label in self.patterns:
            for match in guarded.finditer(note):
                span = doc.char_span(
                    match.start(), match.end(), label=label, alignment_mode="expand"
                )
                if span is not None:
                    spans.append(span)
        matched = list(doc.spans.get(_GROUP, ()))
        doc.ents = filter_spans([*doc.ents, *matched, *spans])
        return doc


def _spellings(terms: list[str]) -> list[str]:
    """Each term as written, and as typed without apostrophes or with curly ones."""
    out: dict[str, None] = {}
    for term in terms:
        out[term] = None
        if "'" in term:
            out[term.replace("'", "")] = None
            out[term.replace("'", "\u2019")] = None
    return list(out)
