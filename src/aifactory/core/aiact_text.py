"""AI Act screening of what an applicant writes: title, summary and description, in seven languages.

What it does
    The words and phrases of data/aiact_terms.yaml are grouped into concepts (EMOTION, WORK_EDU, DETECT, ...),
    each given in English, German, French, Italian, Spanish, Polish and Dutch. A rule names an Article 5 practice
    or an Annex III area and the concepts that must all be found in one window of the text (a sentence and the
    next one): emotion recognition at the workplace is EMOTION + WORK_EDU + DETECT, so that "detect the
    frustration of call-centre staff", "Stimmung der Mitarbeitenden erkennen" and "analyser l'humeur des
    salariés" are found alike while "sentiment of product reviews" is not. Paraphrases are covered by the concept
    lists, inflections by the Snowball stemmers (snowballstemmer), German and Dutch compounds by looking for a
    long stem inside a word.

What it does not do
    It reads no intent and no negation: "we will never rank citizens by behaviour" is found like the plain
    sentence. A finding therefore never refuses on its own: the application goes to an ethics review with the
    passages that triggered it, shown to the reviewer and to the applicant. A practice the applicant ticks is
    still refused by the gate (core/eligibility.py).

Cost
    Each word is stemmed once per language (cached), then looked up; a 25,000-character text screens in tens of
    milliseconds. Texts longer than MAX_CHARS are refused by the caller's field limits before they get here, and
    here as well.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any

import snowballstemmer
import yaml

from aifactory.core.eligibility import ANNEX3_AREAS, ARTICLE5_PRACTICES
from aifactory.core.exceptions import InvalidInput

LANGUAGES: Mapping[str, str] = MappingProxyType(
    {"en": "english", "de": "german", "fr": "french", "it": "italian", "es": "spanish", "pl": "polish",
     "nl": "dutch"}
)
COMPOUND_LANGUAGES = frozenset({"de", "nl"})
COMPOUND_MIN = 6  # a stem this long or longer is also looked for inside German and Dutch words
MAX_CHARS = 60_000  # all fields together
MAX_PASSAGES = 3  # per finding
PASSAGE_CHARS = 400

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")


@dataclass(frozen=True)
class Term:
    lang: str
    text: str
    stems: tuple[str, ...]
    exact: bool  # match the written form, not the stem


@dataclass(frozen=True)
class Rule:
    key: str
    kind: str  # "practice" (Article 5) or "area" (Annex III)
    concepts: tuple[str, ...]


@dataclass(frozen=True, eq=False)  # hashed by identity: its index is cached per lexicon
class Lexicon:
    concepts: Mapping[str, tuple[Term, ...]]
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Finding:
    """One practice or area found, with where and why."""

    key: str
    kind: str  # "practice" | "area"
    label: str
    field: str  # title | summary | description
    passages: tuple[str, ...]
    words: tuple[str, ...]  # the words of the text that matched, one per concept at least

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "label": self.label, "field": self.field,
                "passages": list(self.passages), "words": list(self.words)}

    def sentence(self) -> str:
        what = "a practice prohibited by Article 5" if self.kind == "practice" else "a high-risk area of Annex III"
        quoted = " / ".join(f"“{p}”" for p in self.passages)
        return f"The {self.field} may describe {what} of the AI Act ({self.label}): {quoted}"


@dataclass(frozen=True)
class TextScreening:
    findings: tuple[Finding, ...]

    @property
    def flagged(self) -> bool:
        return bool(self.findings)

    @property
    def practices(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.key for f in self.findings if f.kind == "practice"))

    @property
    def areas(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.key for f in self.findings if f.kind == "area"))

    def keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.key for f in self.findings))

    def reasons(self) -> list[str]:
        return [f.sentence() for f in self.findings]

    def to_list(self) -> list[dict[str, Any]]:
        return [f.to_dict() for f in self.findings]


# --- text normalisation and stemming ----------------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower case without accents (ł and ß kept as they are), so that stems compare across spellings."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_stemmers: dict[str, Any] = {}
_stem_lock = threading.Lock()


@lru_cache(maxsize=200_000)
def stem(lang: str, word: str) -> str:
    """The word's Snowball stem in the language, accent-folded."""
    with _stem_lock:
        stemmer = _stemmers.get(lang)
        if stemmer is None:
            stemmer = _stemmers[lang] = snowballstemmer.stemmer(LANGUAGES[lang])
        return fold(str(stemmer.stemWord(word)))


_STEM_CACHE: dict[tuple[str, str], str] = {}
_STEM_CACHE_MAX = 200_000


def stems(lang: str, tokens: Sequence[str]) -> list[str]:
    """The tokens' stems in one language: the new ones stemmed in one call of the stemmer, all of them cached."""
    new = list(dict.fromkeys(t for t in tokens if (lang, t) not in _STEM_CACHE))
    if new:
        with _stem_lock:
            stemmer = _stemmers.get(lang)
            if stemmer is None:
                stemmer = _stemmers[lang] = snowballstemmer.stemmer(LANGUAGES[lang])
            found = [str(s) for s in stemmer.stemWords(new)]
        if len(_STEM_CACHE) > _STEM_CACHE_MAX:
            _STEM_CACHE.clear()
        for token, stemmed in zip(new, found, strict=True):
            _STEM_CACHE[(lang, token)] = fold(stemmed)
    return [_STEM_CACHE[(lang, t)] for t in tokens]


def words(text: str) -> list[str]:
    return [m.group(0).casefold().replace("’", "'") for m in _WORD.finditer(text)]


# --- the lexicon -------------------------------------------------------------------------------------------------


@cache
def load_lexicon() -> Lexicon:
    text = resources.files("aifactory.core").joinpath("data/aiact_terms.yaml").read_text(encoding="utf-8")
    return parse_lexicon(yaml.safe_load(text))


def parse_lexicon(data: Any) -> Lexicon:
    if not isinstance(data, Mapping) or not isinstance(data.get("concepts"), Mapping):
        raise InvalidInput("aiact_terms.concepts", "must map concept names to languages")
    concepts: dict[str, tuple[Term, ...]] = {}
    for name, by_lang in data["concepts"].items():
        if not isinstance(by_lang, Mapping) or not set(by_lang) <= set(LANGUAGES):
            raise InvalidInput(f"aiact_terms.concepts.{name}", f"languages must be among {', '.join(LANGUAGES)}")
        terms: list[Term] = []
        for lang, entries in by_lang.items():
            if not isinstance(entries, list) or not all(isinstance(e, str) and e.strip() for e in entries):
                raise InvalidInput(f"aiact_terms.concepts.{name}.{lang}", "must be a list of words or phrases")
            for entry in entries:
                exact = entry.startswith("=")
                parts = words(entry.lstrip("="))
                if not parts:
                    raise InvalidInput(f"aiact_terms.concepts.{name}.{lang}", f"{entry!r} holds no word")
                stems = tuple(fold(p) if exact else stem(lang, p) for p in parts)
                terms.append(Term(lang=lang, text=entry.lstrip("="), stems=stems, exact=exact))
        concepts[str(name)] = tuple(terms)
    rules: list[Rule] = []
    for i, row in enumerate(data.get("rules") or []):
        where = f"aiact_terms.rules[{i}]"
        if not isinstance(row, Mapping):
            raise InvalidInput(where, "must be a mapping with key and all")
        key = row.get("key")
        kind = "practice" if key in ARTICLE5_PRACTICES else "area" if key in ANNEX3_AREAS else None
        if kind is None:
            raise InvalidInput(f"{where}.key", f"{key!r} is neither an Article 5 practice nor an Annex III area")
        names = row.get("all")
        if not isinstance(names, list) or not names or not all(n in concepts for n in names):
            raise InvalidInput(f"{where}.all", "must list known concepts")
        rules.append(Rule(key=str(key), kind=kind, concepts=tuple(str(n) for n in names)))
    return Lexicon(concepts=MappingProxyType(concepts), rules=tuple(rules))


@dataclass(frozen=True)
class _Index:
    single: Mapping[tuple[str, str], tuple[str, ...]]  # (lang, stem) -> concepts
    exact: Mapping[str, tuple[str, ...]]  # folded form -> concepts
    phrases: Mapping[tuple[str, str], tuple[tuple[str, Term], ...]]  # (lang or "=", first stem) -> (concept, term)
    compounds: Mapping[str, tuple[re.Pattern[str], Mapping[str, tuple[str, ...]]]]  # lang -> (long stems, concepts)


@cache
def _index(lexicon: Lexicon) -> _Index:
    single: dict[tuple[str, str], list[str]] = {}
    exact: dict[str, list[str]] = {}
    phrases: dict[tuple[str, str], list[tuple[str, Term]]] = {}
    compounds: dict[str, dict[str, list[str]]] = {}
    for concept, terms in lexicon.concepts.items():
        for term in terms:
            if len(term.stems) > 1:
                phrases.setdefault(("=" if term.exact else term.lang, term.stems[0]), []).append((concept, term))
            elif term.exact:
                exact.setdefault(term.stems[0], []).append(concept)
            else:
                single.setdefault((term.lang, term.stems[0]), []).append(concept)
                if term.lang in COMPOUND_LANGUAGES and len(term.stems[0]) >= COMPOUND_MIN:
                    compounds.setdefault(term.lang, {}).setdefault(term.stems[0], []).append(concept)
    return _Index(
        single=MappingProxyType({k: tuple(dict.fromkeys(v)) for k, v in single.items()}),
        exact=MappingProxyType({k: tuple(dict.fromkeys(v)) for k, v in exact.items()}),
        phrases=MappingProxyType({k: tuple(v) for k, v in phrases.items()}),
        compounds=MappingProxyType({lang: _compound_matcher(by_stem) for lang, by_stem in compounds.items()}),
    )


def _compound_matcher(by_stem: Mapping[str, list[str]]) -> tuple[re.Pattern[str], Mapping[str, tuple[str, ...]]]:
    """One pattern finding, at every position of a word, the longest stem that starts there; each stem maps to the
    concepts of itself and of every shorter stem it begins with (so Gesichtsbild also counts as Gesicht)."""
    ordered = sorted(by_stem, key=len, reverse=True)
    pattern = re.compile("(?=(" + "|".join(re.escape(x) for x in ordered) + "))")
    closure = {
        stem_: tuple(dict.fromkeys(c for other in ordered if stem_.startswith(other) for c in by_stem[other]))
        for stem_ in ordered
    }
    return pattern, MappingProxyType(closure)


# --- screening ---------------------------------------------------------------------------------------------------


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _concepts_in(tokens: Sequence[str], index: _Index) -> dict[str, list[str]]:
    """For each concept found in the tokens, the words that matched it."""
    found: dict[str, list[str]] = {}
    stemmed = {lang: stems(lang, tokens) for lang in LANGUAGES}
    folded = [fold(t) for t in tokens]
    for i, token in enumerate(tokens):
        for concept in index.exact.get(folded[i], ()):
            found.setdefault(concept, []).append(token)
        for lang in LANGUAGES:
            for concept in index.single.get((lang, stemmed[lang][i]), ()):
                found.setdefault(concept, []).append(token)
        if len(folded[i]) > COMPOUND_MIN:
            for pattern, concepts in index.compounds.values():
                for match in pattern.finditer(folded[i]):
                    if len(match.group(1)) < len(folded[i]):
                        for concept in concepts[match.group(1)]:
                            found.setdefault(concept, []).append(token)
    for start in range(len(tokens)):
        for lang in ("=", *LANGUAGES):
            seq = folded if lang == "=" else stemmed[lang]
            for concept, term in index.phrases.get((lang, seq[start]), ()):
                end = _phrase_end(seq, start, term.stems)
                if end is not None:
                    found.setdefault(concept, []).append(" ".join(tokens[start:end]))
    return found


def _phrase_end(seq: Sequence[str], start: int, parts: Sequence[str]) -> int | None:
    """Where the phrase ends when it starts at `start`, allowing one word between its words; None if absent."""
    if seq[start] != parts[0]:
        return None
    at = start
    for part in parts[1:]:
        if at + 1 < len(seq) and seq[at + 1] == part:
            at += 1
        elif at + 2 < len(seq) and seq[at + 2] == part:
            at += 2
        else:
            return None
    return at + 1


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= PASSAGE_CHARS else text[: PASSAGE_CHARS - 1].rstrip() + "…"


def screen_text(fields: Mapping[str, str], lexicon: Lexicon | None = None) -> TextScreening:
    """Screen the named fields (title, summary, description, ...) against the rules; findings in rule order."""
    lexicon = lexicon or load_lexicon()
    index = _index(lexicon)
    if sum(len(v) for v in fields.values() if isinstance(v, str)) > MAX_CHARS:
        raise InvalidInput("description", f"the texts together must be at most {MAX_CHARS:,} characters")
    findings: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for field, text in fields.items():
        if not isinstance(text, str):
            raise InvalidInput(field, "must be text")
        sentences = _sentences(text)
        per_sentence = [_concepts_in(words(s), index) for s in sentences]
        for i in range(len(sentences)):
            window = range(i, min(i + 2, len(sentences)))
            seen: dict[str, list[str]] = {}
            for j in window:
                for concept, hits in per_sentence[j].items():
                    seen.setdefault(concept, []).extend(hits)
            for rule in lexicon.rules:
                if not all(c in seen for c in rule.concepts):
                    continue
                # the passage: only the sentences of the window that hold a matched concept
                used = [j for j in window if any(c in per_sentence[j] for c in rule.concepts)]
                passage = _clip(" ".join(sentences[j] for j in used))
                passages, hit_words = findings.setdefault((rule.key, field), ([], []))
                if passage not in passages and not any(passage in p for p in passages):
                    passages.append(passage)
                for c in rule.concepts:
                    for w in seen[c]:
                        if w not in hit_words:
                            hit_words.append(w)
    out: list[Finding] = []
    kinds = {r.key: r.kind for r in lexicon.rules}
    order = list(ARTICLE5_PRACTICES) + list(ANNEX3_AREAS)
    for (key, field), (passages, hit_words) in sorted(findings.items(), key=lambda kv: order.index(kv[0][0])):
        label = ARTICLE5_PRACTICES.get(key) or ANNEX3_AREAS[key]
        out.append(Finding(key=key, kind=kinds[key], label=label, field=field,
                           passages=tuple(passages[:MAX_PASSAGES]), words=tuple(hit_words)))
    return TextScreening(findings=tuple(out))
