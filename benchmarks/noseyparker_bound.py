"""What holds the noseyparker sensitivity FP@95R up: the set's labels, per rule, next to a model's scores.

    .venv/bin/python benchmarks/noseyparker_bound.py --model data_lake/models/champion --out np_bound.json

The noseyparker set is each secret rule's own test examples: a "negative" is a text that rule must not
match, which may hold another rule's secret, and a "positive" is a text it must match, placeholders and
bucket names included. This prints (JSON; counts, rule ids and scores only, never dev text):
- the model's and the regex baseline's FP@95R and the model's 95 %-recall threshold;
- the positives scored under that threshold (the 5 % the threshold must still reach), by rule family;
- texts the set labels both ways, and the negatives among them;
- negatives in which the regex baseline's own recognizers find a SECRET or DBURI (a credential by the
  rules this project ships) and how many of them rank above the threshold;
- FP@95R with the texts labeled both ways left out.
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

import numpy as np

from dlp_assets.dev_sets import DEV_SETS
from hrm_core.data.eval_formats import load_eval_dataset
from hrm_core.data.lake import Lake
from hrm_core.model.metrics import fp_rate_at_recall, operating_point_at_recall
from hrm_core.release.evaluation import RECALL_TARGET, scan_examples
from hrm_core.rules.regex_baseline import RegexBaseline
from hrm_core.serve.scanner import Scanner

CREDENTIAL_TYPES = ("SECRET", "DBURI")


def family(rule_id: str | None) -> str:
    """``np.generic.5`` -> ``np.generic``."""
    return (rule_id or "?").rsplit(".", 1)[0]


def bound(examples: list, scores: np.ndarray, regex_scores: np.ndarray, credential: np.ndarray) -> dict:
    y = np.array([ex.labels.sensitivity for ex in examples], dtype=np.int64)
    point = operating_point_at_recall(y, scores, RECALL_TARGET)
    texts = [ex.body.strip() for ex in examples]
    labels_of = collections.defaultdict(set)
    for text, label in zip(texts, y, strict=True):
        labels_of[text].add(int(label))
    both = np.array([len(labels_of[t]) > 1 for t in texts])
    neg, pos = y == 0, y == 1
    above = scores >= point.threshold
    under = [family(ex.meta.rule_id) for ex, p, a in zip(examples, pos, above, strict=True) if p and not a]
    return {
        "n": int(y.size),
        "positives": int(pos.sum()),
        "negatives": int(neg.sum()),
        "model_fp_at_95_recall": round(point.fp_rate, 4),
        "regex_fp_at_95_recall": round(fp_rate_at_recall(y, regex_scores, RECALL_TARGET), 4),
        "model_threshold": round(point.threshold, 6),
        "positives_under_threshold": len(under),
        "positives_under_threshold_by_family": dict(collections.Counter(under).most_common()),
        "texts_labeled_both_ways": sum(len(v) > 1 for v in labels_of.values()),
        "negatives_labeled_positive_elsewhere": int((neg & both).sum()),
        "negatives_with_a_recognized_credential": int((neg & credential).sum()),
        "of_them_above_threshold": int((neg & credential & above).sum()),
        "negatives_above_threshold": int((neg & above).sum()),
        "model_fp_at_95_recall_without_texts_labeled_both_ways": round(
            fp_rate_at_recall(y[~both], scores[~both], RECALL_TARGET), 4
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None, help="bundle dir (default: <lake>/models/champion)")
    ap.add_argument(
        "--lake", type=Path, default=None, help="lake root (default: $HRM_DLP_LAKE or ./data_lake)"
    )
    ap.add_argument("--eval-dir", type=Path, default=Path("../shared/eval"))
    ap.add_argument("--backend", default="int8")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args()
    model = args.model or (Lake(args.lake) if args.lake else Lake()).root / "models" / "champion"
    spec = next(d for d in DEV_SETS if d.format == "noseyparker")
    examples = load_eval_dataset(args.eval_dir / spec.file, spec.format)
    scanner = Scanner.from_bundle(model, backend=args.backend)
    scores = np.array([r["scores"]["sensitivity"] for r in scan_examples(scanner, examples)])
    baseline = RegexBaseline()
    predictions = [baseline.predict(ex) for ex in examples]
    regex_scores = np.array([p.doc_scores["sensitivity"] for p in predictions])
    credential = np.array([any(s[0] in CREDENTIAL_TYPES for s in p.spans) for p in predictions])
    report = {"model": str(model), **bound(examples, scores, regex_scores, credential)}
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
