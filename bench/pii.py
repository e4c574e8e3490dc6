"""PII detection: Naestro's scanner side by side with Microsoft Presidio, in one run.

Both run on the same labelled corpus (naestro.pii.corpus: templates + Faker, fixed seed),
split 40/35/25 as calibration does. Each side gets a minimum score per detector/entity
chosen for F1 on the validation split (Naestro: naestro.pii.calibration; Presidio: the same
search over its own scores), then both are measured on the test split. Throughput is
characters scanned per second over the whole corpus, as MB/s of UTF-8 text.

Presidio runs with its pattern recognizers only: its spaCy English model is not on PyPI
(the official wheels live on GitHub releases, which this project cannot reach), so PERSON
and the NLP context enhancer are not part of its run, and PERSON is not a shared type.

Prints one ``name value`` line per figure, the headline throughput ratio last. Run:
``uv sync --group bench && .venv/bin/python bench/pii.py [--samples N]``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer import predefined_recognizers as pr

from naestro.contracts import PiiFinding
from naestro.pii import calibration as pii_calibration
from naestro.pii import redaction as pii
from naestro.pii.corpus import Sample, build_corpus

# Presidio entity -> ours, for the types both detect.
PRESIDIO_TYPES = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "IP_ADDRESS": "IP_ADDRESS",
    "MAC_ADDRESS": "MAC_ADDRESS",
    "US_SSN": "US_SSN",
    "US_PASSPORT": "PASSPORT",
    "US_DRIVER_LICENSE": "DRIVER_LICENSE",
}
SHARED = sorted(PRESIDIO_TYPES.values())
STRUCTURED = ("EMAIL", "CREDIT_CARD", "IBAN", "IP_ADDRESS", "MAC_ADDRESS", "US_SSN")
Scanner = Callable[[str], list[PiiFinding]]


def presidio_recognizers() -> list[EntityRecognizer]:
    return [
        pr.EmailRecognizer(),
        pr.PhoneRecognizer(),
        pr.CreditCardRecognizer(),
        pr.IbanRecognizer(),
        pr.IpRecognizer(),
        pr.MacAddressRecognizer(),
        pr.UsSsnRecognizer(),
        pr.UsPassportRecognizer(),
        pr.UsLicenseRecognizer(),
    ]


def presidio_scanner() -> Scanner:
    recognizers = presidio_recognizers()

    def scan(text: str) -> list[PiiFinding]:
        results: list[RecognizerResult] = []
        for r in recognizers:
            results += r.analyze(text, r.supported_entities, None)
        results = EntityRecognizer.remove_duplicates(results)
        return [
            PiiFinding(
                entity_type=PRESIDIO_TYPES[r.entity_type],
                start=r.start,
                end=r.end,
                score=r.score,
                detector=r.entity_type,
            )
            for r in results
            if r.entity_type in PRESIDIO_TYPES
        ]

    return scan


def _best_threshold(cached: Sequence[tuple[Sample, list[PiiFinding]]], entity: str) -> float:
    options = sorted({0.0} | {f.score for _, fs in cached for f in fs if f.entity_type == entity})
    best = (-1.0, 0.0)
    for t in options:
        counts = pii_calibration.new_counts()
        for sample, found in cached:
            kept = [f for f in found if f.entity_type != entity or f.score >= t]
            pii_calibration.count(sample.spans, kept, counts)
        f1 = pii_calibration.prf(*(counts[k][entity] for k in ("tp", "fp", "fn")))[2]
        if f1 > best[0]:
            best = (f1, t)
    return best[1]


def presidio_thresholds(scan: Scanner, validate: list[Sample]) -> dict[str, float]:
    cached = [(s, scan(s.text)) for s in validate]
    return {e: _best_threshold(cached, e) for e in SHARED}


def evaluate(scan: Scanner, test: list[Sample]) -> dict[str, tuple[float, float, float]]:
    counts = pii_calibration.new_counts()
    for s in test:
        pii_calibration.count(s.spans, scan(s.text), counts)
    return {e.entity_type: (e.precision, e.recall, e.f1) for e in pii_calibration.scores(counts)}


def throughput(scan: Scanner, texts: list[str], min_seconds: float = 1.0) -> float:
    """MB/s of UTF-8 text, over as many passes as fill ``min_seconds``."""
    size = sum(len(t.encode()) for t in texts)
    passes, start = 0, time.perf_counter()
    while True:
        for t in texts:
            scan(t)
        passes += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return size * passes / elapsed / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # Presidio warns about every recognizer it loads
    corpus = build_corpus(args.samples, args.seed)
    train, validate, test = pii_calibration.split(corpus, args.seed)
    high, low = pii_calibration.fit_entropy(train)
    ours_t = pii_calibration.fit_thresholds(validate, high, low)

    def ours(text: str) -> list[PiiFinding]:
        return pii.scan(text, entropy_high=high, entropy_low=low, thresholds=ours_t)

    raw_presidio = presidio_scanner()
    theirs_t = presidio_thresholds(raw_presidio, validate)

    def theirs(text: str) -> list[PiiFinding]:
        return [f for f in raw_presidio(text) if f.score >= theirs_t.get(f.entity_type, 0.0)]

    ours_m, theirs_m = evaluate(ours, test), evaluate(theirs, test)
    print(f"corpus_samples {len(corpus)}")
    print(f"test_samples {len(test)}")
    for entity in sorted(ours_m):
        p, r, f = ours_m[entity]
        print(f"naestro_{entity}_precision {p:.3f}\nnaestro_{entity}_recall {r:.3f}")
        print(f"naestro_{entity}_f1 {f:.3f}")
        if entity in SHARED:
            tp, tr, tf = theirs_m.get(entity, (1.0, 0.0, 0.0))
            print(f"presidio_{entity}_precision {tp:.3f}\npresidio_{entity}_recall {tr:.3f}")
            print(f"presidio_{entity}_f1 {tf:.3f}")
    shared_ours = sum(ours_m[e][2] for e in SHARED) / len(SHARED)
    shared_theirs = sum(theirs_m.get(e, (0, 0, 0.0))[2] for e in SHARED) / len(SHARED)
    print(f"naestro_shared_macro_f1 {shared_ours:.3f}")
    print(f"presidio_shared_macro_f1 {shared_theirs:.3f}")
    print(f"naestro_min_structured_precision {min(ours_m[e][0] for e in STRUCTURED):.3f}")
    texts = [s.text for s in corpus]
    # Documents: the same texts, 50 to a document (~3.5 KB, a typical prompt's size).
    docs = ["\n".join(texts[i : i + 50]) for i in range(0, len(texts), 50)]
    ours_doc, theirs_doc = throughput(ours, docs), throughput(theirs, docs)
    print(f"naestro_document_mb_per_s {ours_doc:.3f}")
    print(f"presidio_document_mb_per_s {theirs_doc:.3f}")
    print(f"document_throughput_ratio {ours_doc / theirs_doc:.1f}")
    ours_mbps, theirs_mbps = throughput(ours, texts), throughput(theirs, texts)
    print(f"naestro_mb_per_s {ours_mbps:.3f}")
    print(f"presidio_mb_per_s {theirs_mbps:.3f}")
    print(f"throughput_ratio_naestro_over_presidio {ours_mbps / theirs_mbps:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
