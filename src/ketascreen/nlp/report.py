"""What a note contributed, for clinicians (JSON and Markdown).

The patient's summary never shows this: it is rendered from the findings' patient
messages only, so the note's words are never quoted back to the person.
"""

from __future__ import annotations

from typing import Any

from ketascreen.nlp.merge import NoteScreening
from ketascreen.nlp.rules import load_nlp_content
from ketascreen.nlp.scanner import Mention


def note_json(screening: NoteScreening) -> dict[str, Any]:
    """The note's facts, conflicts and unused mentions, with evidence."""
    return {
        "scanner_content": load_nlp_content().versions,
        "facts": [
            {
                "item": f.item,
                "label": f.label,
                "value": f.value,
                "evidence": [_mention(m) for m in f.mentions],
            }
            for f in screening.facts
        ],
        "conflicts": [
            {
                "item": c.item,
                "label": c.label,
                "needs_review": True,
                "values": [
                    {
                        "value": _plain(o.value),
                        "source": o.source,
                        "evidence": [_mention(m) for m in o.mentions],
                    }
                    for o in c.offers
                ],
                "used": c.used,
                "why": c.why,
            }
            for c in screening.conflicts
        ],
        "not_used": [
            {
                "item": n.item,
                "value": n.value,
                "reason": n.reason,
                **_mention(n.mention),
            }
            for n in screening.not_used
        ]
        + [{"reason": i.reason, **_mention(i.mention)} for i in screening.ignored],
    }


def note_markdown(screening: NoteScreening) -> str:
    """A clinician's section on what the note said (Markdown)."""
    lines = ["## From the note", ""]
    if screening.conflicts:
        lines += ["### Needs review: sources disagree", ""]
        for c in screening.conflicts:
            offers = "; ".join(
                f"{_show(o.value)} ({o.source}"
                + (f": \u201c{o.mentions[0].sentence}\u201d" if o.mentions else "")
                + ")"
                for o in c.offers
            )
            lines.append(
                f"- **{c.label}** (`{c.item}`): {offers}. Used: {_show(c.used)}."
            )
        lines.append("")
    if screening.facts:
        lines += ["### Facts read", ""]
        for f in screening.facts:
            where = f.mentions[0] if f.mentions else None
            detail = ""
            if where is not None:
                mods = ", ".join(m.category.lower() for m in where.modifiers)
                detail = (
                    f" \u2014 \u201c{where.sentence}\u201d [{where.context}"
                    + (f"; {mods}" if mods else "")
                    + (f"; {where.section}" if where.section else "")
                    + (f"; {where.detail}" if where.detail else "")
                    + f"; chars {where.start}\u2013{where.end}]"
                )
            lines.append(f"- {f.label} = {_show(f.value)}{detail}")
        lines.append("")
    unused = [(n.mention, f"{n.item}: {n.reason}") for n in screening.not_used] + [
        (i.mention, i.reason) for i in screening.ignored
    ]
    if unused:
        lines += ["### Mentioned but not used", ""]
        for mention, reason in unused:
            lines.append(
                f"- \u201c{mention.text}\u201d ({reason}; chars {mention.start}\u2013{mention.end})"
            )
        lines.append("")
    return "\n".join(lines)


def _mention(m: Mention) -> dict[str, Any]:
    return {
        "text": m.text,
        "start": m.start,
        "end": m.end,
        "sentence": m.sentence,
        "context": m.context,
        "modifiers": [{"category": x.category, "text": x.text} for x in m.modifiers],
        "section": m.section,
        "source": m.source,
        "detail": m.detail,
    }


def _plain(value: Any) -> Any:
    return sorted(value) if isinstance(value, frozenset) else value


def _show(value: Any) -> str:
    value = _plain(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)
