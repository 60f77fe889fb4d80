"""Nothing of the outside dev sets (../shared/eval) is in the demo's training text: word 8-gram overlap ~ 0.

The training text is what the demo's model and tokenizer read, built with the assets' config defaults:
the DSL text of the synthetic examples (`SyntheticConfig`: 1,000, seed 0) and, when the carrier corpus
is cached in the lake, the DSL text of the carrier examples (`CarrierExamplesConfig`: 1,800, seed 0)
and the carrier excerpts the tokenizer samples (`TokenizerConfig`). Dev side: each example's own text
(its body). benchmarks/dev_set_overlap.py gives the same figures for a lake's whole `examples` table.

Thresholds: at most 0.5% of a dev set's distinct 8-grams, and at most 5% of any one dev text's. A copied
text shows as ~100% of its own 8-grams (one copied NDA also adds ~1.6% to contractnli's share); stock
phrases that NDAs share with the generator's NDA clauses and with licence texts ("without the prior
written consent of", "of merchantability and fitness for a particular purpose") stay far below both.
Measured (this lake, 2026-12, `nice -n 10 .venv/bin/python -m pytest -q -s tests/test_dev_set_leakage.py`):
presidio_research 0 of 7,816 and noseyparker 0 of 2,230 in both tests; contractnli 25 of 106,841
(0.023%, at most 0.69% of one NDA) from the 1,000 synthetic examples alone, 72 (0.067%, at most 0.75%
of one NDA, 42 of 61 NDAs with one stock phrase or more) with the carrier examples and the tokenizer's
carrier sample.
"""

from __future__ import annotations

import pytest

from dlp_assets.carriers import CarrierExamplesConfig
from dlp_assets.data import SyntheticConfig
from dlp_assets.dev_sets import present_dev_sets
from dlp_assets.features import TokenizerConfig
from hrm_core.data.corpus import carriers_dir, read_carrier_documents
from hrm_core.data.dsl import serialize_example
from hrm_core.data.eval_formats import load_eval_dataset
from hrm_core.data.lake import Lake, parquet_files
from hrm_core.data.leakage import NgramOverlap, ngram_overlap
from hrm_core.synth import generate_examples
from hrm_core.synth.carriers import generate_carrier_examples, usable_documents
from hrm_core.tokens.training_text import sample_carrier_text
from resources.release import ReleasePolicy

SYNTHETIC, CARRIER_EXAMPLES, TOKENIZER = SyntheticConfig(), CarrierExamplesConfig(), TokenizerConfig()
SHARE_AT_MOST, TEXT_SHARE_AT_MOST = 0.005, 0.05
EVAL_ROOT = ReleasePolicy().eval_root()
CARRIER_FILES = parquet_files(carriers_dir(Lake()))

pytestmark = pytest.mark.skipif(
    not present_dev_sets(EVAL_ROOT), reason=f"no dev set under {EVAL_ROOT} ($HRM_DLP_EVAL_DIR)"
)


@pytest.fixture(scope="module")
def dev_bodies() -> dict[str, list[str]]:
    return {
        dev.name: [ex.body for ex in load_eval_dataset(EVAL_ROOT / dev.file, dev.format)]
        for dev in present_dev_sets(EVAL_ROOT)
    }


@pytest.fixture(scope="module")
def synthetic_text() -> list[str]:
    return [serialize_example(ex).text for ex in generate_examples(SYNTHETIC.n, seed=SYNTHETIC.seed)]


def assert_no_leakage(result: dict[str, NgramOverlap]) -> None:
    figures = {name: (r.shared_ngrams, r.dev_ngrams, r.max_text_share) for name, r in result.items()}
    print(figures)  # `pytest -s` shows the measured figures: (shared, dev 8-grams, max share of one text)
    for r in result.values():
        assert r.share <= SHARE_AT_MOST and r.max_text_share <= TEXT_SHARE_AT_MOST, figures


def test_synthetic_training_text_shares_no_dev_text(dev_bodies, synthetic_text):
    result = ngram_overlap(synthetic_text, dev_bodies)
    assert result["presidio_research"].shared_ngrams == 0 and result["noseyparker"].shared_ngrams == 0
    assert_no_leakage(result)


@pytest.mark.skipif(
    not CARRIER_FILES,
    reason=f"no carrier corpus cached at {carriers_dir(Lake())}: run scripts/fetch_corpora.sh",
)
def test_carrier_training_text_shares_no_dev_text(dev_bodies, synthetic_text):
    docs = read_carrier_documents(CARRIER_FILES)
    carrier_examples, _ = generate_carrier_examples(
        usable_documents(docs), CARRIER_EXAMPLES.n, seed=CARRIER_EXAMPLES.seed
    )
    excerpts = sample_carrier_text(
        [(d["kind"], d["text"]) for d in docs], TOKENIZER.carrier_chars, seed=TOKENIZER.seed
    )
    training = [*synthetic_text, *(serialize_example(ex).text for ex in carrier_examples), *excerpts]
    assert_no_leakage(ngram_overlap(training, dev_bodies))
