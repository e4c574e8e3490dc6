"""Person names, offline and without a model: cues plus a small first-name gazetteer.

Three kinds of evidence, strongest first:

* an honorific before capitalised words: "Dr. Ada Lovelace", "Ms Quarrington";
* a cue phrase: "my name is ...", "Dear ...", "signed ...", "Name: ...", "contact ...";
* a common first name (the list below) followed by a capitalised surname: "Maria Lopez".

What it misses (see docs/architecture.md): names with no cue whose first name is not in the
list, single-word names, names written in lower case, and surname-first orders. It can
flag a capitalised pair after a gazetteer word that is not a name ("Will Smith Street" is
caught by the address detector first; "Grace Period" is not a name but matches).
"""

from __future__ import annotations

import re

from naestro.contracts import PiiFinding

_FIRST_NAMES = frozenset(
    """
    aaron adam adrian alan albert alex alexander alice alicia allison amanda amber amy andrea
    andrew angela ann anna anne anthony antonio arthur ashley barbara benjamin beth betty
    beverly bill billy bob bobby bonnie brandon brenda brian brittany bruce bryan carl carlos
    carol caroline catherine charles charlotte cheryl chris christian christina christine
    christopher cindy claire craig crystal cynthia daniel danielle david deborah debra denise
    dennis derek diana diane donald donna doris dorothy douglas dylan edward elizabeth ellen
    emily emma eric erica erin ethan eugene evelyn frances frank gabriel gary george gerald
    gloria grace gregory hannah harold harry heather helen henry holly howard isabella jack
    jacob jacqueline james jamie jane janet janice jason jean jeffrey jennifer jeremy jerry
    jessica joan joe john johnny jonathan jordan jose joseph joshua joyce juan judith judy
    julia julie justin karen katherine kathleen kathryn kayla keith kelly kenneth kevin kim
    kimberly kyle larry laura lauren lawrence linda lisa logan lori louis lucas luis madison
    margaret maria marie marilyn mark martha martin mary matthew megan melissa michael michelle
    mike monica nancy natalie nathan nicholas nicole noah olivia pamela patricia patrick paul
    peter philip rachel ralph randy raymond rebecca richard robert robin roger ronald rose
    roy russell ruth ryan samantha samuel sandra sara sarah scott sean sharon shirley sophia
    stephanie stephen steven susan teresa terry thomas timothy tina todd tony tracy tyler
    victoria vincent virginia walter wayne william zachary
    """.split()
)
_CAP = r"[A-Z][a-z]+(?:[-'][A-Z][a-z]+)?"
_FULL = rf"{_CAP}(?: [A-Z]\.)?(?: {_CAP}){{0,2}}"
_HONORIFIC = re.compile(rf"(?=[MDPS])\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame)\.? (?P<name>{_FULL})")
_CUE = re.compile(
    # The look-ahead lets the engine reject most positions on one character.
    r"(?:(?=[MmNnDdSsRrCcAaPpEe])\b(?:[Mm]y name is|[Nn]ame:|[Dd]ear|[Ss]igned,?"
    r"|[Ss]incerely,?|[Rr]egards,?"
    r"|[Cc]ontact(?: person)?:?|[Ss]poke (?:with|to)|[Aa]ssigned to|[Pp]atient:?"
    r"|[Cc]ustomer:?|[Ee]mployee:?)\s+)"
    rf"(?P<name>{_FULL})"
)
# Only capitalised words followed by another: most capitalised words are not.
_FIRST = re.compile(r"\b[A-Z][a-z]+(?= [A-Z])")
_PAIR = re.compile(rf"{_CAP}(?: [A-Z]\.)? {_CAP}\b")
# Capitalised words that follow a cue but are not names ("Dear Sir", "Dear Team").
_NOT_NAMES = frozenset(
    "sir madam team all customer customers user users colleagues friends hiring the a".split()
)
_SUFFIX_WORDS = frozenset("street avenue road lane drive court way place period".split())
# A capitalised pair followed by one of these names a company or a place, not a person.
_ORG_AFTER = re.compile(
    r" (?:Holdings|Inc|LLC|Ltd|Group|Corp|Corporation|Company|Foundation|University|College"
    r"|Institute|Partners|Associates|Hall|Center|Centre|Hospital|School|Bank)\b"
)
SCORE_HONORIFIC = 0.9
SCORE_CUE = 0.8
SCORE_GAZETTEER = 0.7


def _finding(start: int, end: int, score: float, detector: str) -> PiiFinding:
    return PiiFinding(entity_type="PERSON", start=start, end=end, score=score, detector=detector)


def _plausible(name: str) -> bool:
    words = name.split()
    return words[0].lower() not in _NOT_NAMES and words[-1].lower() not in _SUFFIX_WORDS


def detect_names(text: str) -> list[PiiFinding]:
    found = [
        _finding(m.start("name"), m.end("name"), SCORE_HONORIFIC, "name.honorific")
        for m in _HONORIFIC.finditer(text)
        if _plausible(m["name"])
    ]
    found += [
        _finding(m.start("name"), m.end("name"), SCORE_CUE, "name.cue")
        for m in _CUE.finditer(text)
        if _plausible(m["name"])
    ]
    for word in _FIRST.finditer(text):
        if word.group().lower() not in _FIRST_NAMES:
            continue
        pair = _PAIR.match(text, word.start())
        if pair and _plausible(pair.group()) and not _ORG_AFTER.match(text, pair.end()):
            found.append(_finding(pair.start(), pair.end(), SCORE_GAZETTEER, "name.gazetteer"))
    return found
