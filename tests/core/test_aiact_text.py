"""AI Act screening of free text: practices and areas found in seven languages, benign texts left alone."""

from __future__ import annotations

import pytest

from aifactory.cli.bench_screening import evaluate, load_set
from aifactory.core.aiact_text import MAX_CHARS, parse_lexicon, screen_text
from aifactory.core.exceptions import InvalidInput


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("A social scoring platform for the city council.", "social_scoring"),
        ("Rank citizens by their social behaviour and deny them public services when they score low.",
         "social_scoring"),
        ("Ein Sozialkreditsystem für alle Einwohner der Stadt.", "social_scoring"),
        ("Kameras erkennen die Stimmung der Mitarbeiter am Arbeitsplatz.", "emotion_recognition"),
        ("Détecter les émotions des salariés pendant les réunions.", "emotion_recognition"),
        ("Rilevare le emozioni degli studenti durante l'esame.", "emotion_recognition"),
        ("Detectar las emociones de los empleados en la oficina.", "emotion_recognition"),
        ("Kamery rozpoznają emocje pracowników w biurze.", "emotion_recognition"),
        ("Camera's herkennen emoties van werknemers op de werkplek.", "emotion_recognition"),
        ("We scrape faces from social media to build a face search engine.", "facial_scraping"),
        ("Wir sammeln Gesichtsbilder aus dem Internet für eine Datenbank.", "facial_scraping"),
        ("Infer the sexual orientation of people from their facial features.", "biometric_categorisation"),
        ("Predict which individuals will commit a crime from their personality traits.", "predictive_policing"),
        ("Subliminal cues push users to purchase more.", "subliminal_manipulation"),
        ("A model that ranks job applicants and screens CVs for recruitment.", "employment"),
        ("Le modèle évalue la solvabilité des clients et décide d'accorder un prêt.", "essential_services"),
        ("Asylum seekers' statements are assessed for credibility.", "migration"),
        ("Een agent regelt autonoom het elektriciteitsnet.", "critical_infrastructure"),
    ],
)
def test_a_practice_or_area_is_found_in_each_language(text, key):
    found = screen_text({"summary": text})
    assert key in found.keys(), found
    finding = next(f for f in found.findings if f.key == key)
    assert finding.field == "summary"
    assert finding.passages and finding.passages[0] in " ".join(text.split())
    assert finding.words


@pytest.mark.parametrize(
    "text",
    [
        "Sentiment analysis of customer product reviews for online shops.",
        "Blur faces in street imagery before publication.",
        "Robotic manipulation of household objects with a decision transformer.",
        "Find exploitable vulnerabilities in C libraries and propose patches.",
        "Credit assignment and policy gradients in long-horizon reinforcement learning.",
        "Forecast hospital admissions for influenza to plan staff rosters.",
        "Ein offenes Sprachmodell für Behördenbriefe in einfacher Sprache.",
        "Reconnaissance de la parole pour une langue régionale.",
        "Sfruttare la sparsità delle attivazioni nei trasformatori.",
        "Spraakherkenning voor dialecten met opnames van vrijwilligers.",
        "",
    ],
)
def test_benign_texts_are_not_flagged(text):
    assert not screen_text({"title": "Project", "summary": text}).flagged


def test_a_finding_names_its_field_and_passage_and_reads_as_a_sentence():
    found = screen_text({"title": "Team wellbeing",
                         "summary": "An open model. It detects the frustration of employees from webcams.",
                         "description": ""})
    (finding,) = [f for f in found.findings if f.key == "emotion_recognition"]
    assert finding.kind == "practice"
    assert finding.field == "summary"
    assert finding.passages == ("It detects the frustration of employees from webcams.",)
    assert "Article 5" in finding.sentence() and "frustration" in finding.sentence()
    assert found.practices == ("emotion_recognition",)


def test_concepts_may_span_two_sentences_but_not_three():
    two = "Our customers are employers. The system detects the mood of each employee."
    assert "emotion_recognition" in screen_text({"d": two}).keys()
    apart = "We detect things. The weather is fine today. The mood of the employee matters to us."
    assert "emotion_recognition" not in screen_text({"d": apart}).keys()


def test_too_long_a_text_is_refused_naming_the_field():
    with pytest.raises(InvalidInput) as caught:
        screen_text({"description": "a" * (MAX_CHARS + 1)})
    assert caught.value.field == "description"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "aiact_terms.concepts"),
        ({"concepts": {"X": {"xx": ["a"]}}}, "aiact_terms.concepts.X"),
        ({"concepts": {"X": {"en": ["  "]}}}, "aiact_terms.concepts.X.en"),
        ({"concepts": {"X": {"en": ["a"]}}, "rules": [{"key": "astrology", "all": ["X"]}]}, "aiact_terms.rules[0].key"),
        ({"concepts": {"X": {"en": ["a"]}}, "rules": [{"key": "social_scoring", "all": ["Y"]}]},
         "aiact_terms.rules[0].all"),
    ],
)
def test_a_malformed_lexicon_is_refused(data, field):
    with pytest.raises(InvalidInput) as caught:
        parse_lexicon(data)
    assert caught.value.field == field


def test_the_labelled_set_is_screened_well_and_not_by_flagging_everything():
    result = evaluate(load_set())
    overall = result.overall
    assert overall.tp + overall.fn >= 60 and overall.fp + overall.tn >= 50
    assert {"en", "de", "fr", "it", "es", "pl", "nl"} <= set(result.by_language)
    assert overall.precision >= 0.9 and overall.recall >= 0.9
    assert result.baseline_precision < 0.6
    assert result.by_split["held_out"].tp + result.by_split["held_out"].fn >= 14
