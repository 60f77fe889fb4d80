"""The model card names the split and checkpoint of every figure and shows the span figures it is given."""

from __future__ import annotations

import numpy as np
import pytest

from hrm_core.model.hrm import ModelConfig
from hrm_core.release.calibration import TemperatureCalibrator
from hrm_core.release.model_card import checkpoint_metrics, render_model_card

CFG = ModelConfig.preset("cpu-small", vocab_size=200, d_model=32, n_heads=2)
# What train() writes to best.pt: the EMA weights' own validation figures, epoch and step.
BEST_PT = {
    "epoch": 3,
    "step": 1200,
    "val_metrics": {
        "doc": {
            "sensitivity": {"auprc": 0.912, "fp_at_95_recall": 0.125, "accuracy": 0.9},
            "context": {"auprc": 0.64, "fp_at_95_recall": 1.0, "accuracy": 0.7},
        },
        "spans_token": {
            "micro": {"precision": 0.8, "recall": 0.7, "f1": 0.7467, "tp": 70, "fp": 17, "fn": 30},
            "per_type": {
                "SSN": {"precision": 0.5, "recall": 0.25, "f1": 0.3333},
                "PAN": {"precision": 1.0, "recall": 0.9, "f1": 0.9474},
            },
        },
    },
}
EVALUATION = {
    "dataset": {"name": "synthetic-test", "n": 250},
    "model": {
        "version": "v-this",
        "threshold_source": "validation (calibration.json)",
        "doc": {
            "sensitivity": {
                "auprc": 0.88,
                "fp_at_95_recall": 0.2,
                "precision": 0.81,
                "recall": 0.95,
                "f1": 0.874,
                "ece": 0.031,
            }
        },
        "spans": {
            "exact": {"micro": {"precision": 0.6, "recall": 0.5, "f1": 0.5455}, "per_type": {}},
            "overlap": {
                "micro": {"precision": 0.9, "recall": 0.8, "f1": 0.8471},
                "per_type": {"PAN": {"precision": 1.0, "recall": 0.95, "f1": 0.9744}},
            },
        },
    },
}


@pytest.fixture
def calibration() -> TemperatureCalibrator:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 4))
    return TemperatureCalibrator().fit(z, (rng.random((200, 4)) < 0.5).astype(float))


def test_validation_figures_name_split_checkpoint_epoch_and_weights(calibration):
    metrics = {"training_data": {"rows": 1000, "val_rows": 100}, **checkpoint_metrics(BEST_PT)}
    card = render_model_card("v-this", CFG, calibration, metrics)
    where = "validation split `val`, checkpoint `best.pt` (epoch 3, step 1200), EMA weights"
    assert f"### Document heads ({where})" in card
    assert "| head | auprc | fp_at_95_recall | accuracy |" in card
    assert "| sensitivity | 0.912 | 0.125 | 0.900 |" in card and "| context | 0.640 | 1.000 | 0.700 |" in card
    # Token-level spans as the trainer writes them: micro first, then types in SPAN_TYPES order.
    spans = card[card.index(f"### Spans, token level ({where})") :]
    assert spans.index("| micro | 0.800 | 0.700 | 0.747 |") < spans.index("| PAN | 1.000 | 0.900 | 0.947 |")
    assert spans.index("| PAN |") < spans.index("| SSN | 0.500 | 0.250 | 0.333 |")
    assert "test split)" not in card.split("## Evaluation")[0]  # validation figures are not called test
    assert "Not measured." not in card
    assert "Not part of this bundle's metrics.json" in card  # no evaluation given: says where it is


def test_evaluation_report_adds_exact_and_overlap_span_figures(calibration):
    metrics = {**checkpoint_metrics(BEST_PT), "evaluation": EVALUATION}
    card = render_model_card("v-this", CFG, calibration, metrics)
    what = "dataset `synthetic-test` (n=250)"
    assert f"### Document heads ({what}, thresholds from validation (calibration.json))" in card
    assert "| sensitivity | 0.880 | 0.200 | 0.810 | 0.950 | 0.874 | 0.031 |" in card
    assert f"### Spans, exact and overlap match ({what})" in card
    assert "| exact | micro | 0.600 | 0.500 | 0.545 |" in card
    assert (
        "| overlap | micro | 0.900 | 0.800 | 0.847 |" in card
        and "| overlap | PAN | 1.000 | 0.950 | 0.974 |" in card
    )
    other = render_model_card("v-next", CFG, calibration, metrics)
    assert "model version `v-this` (not this bundle's `v-next`)" in other


def test_missing_provenance_and_figures_are_said_plainly(calibration):
    card = render_model_card("v", CFG, calibration, {"doc": BEST_PT["val_metrics"]["doc"]})
    assert "### Document heads (split and checkpoint not recorded in metrics.json)" in card
    assert "No token-level span figures recorded." in card
    assert "No parity figures recorded" in card
    assert "| sensitivity | 0.912 | 0.125 | 0.900 |" in card


def test_checkpoint_metrics_reads_what_train_writes():
    block = checkpoint_metrics(BEST_PT, name="best.pt")
    assert block["validation"] == {
        "split": "val",
        "checkpoint": "best.pt",
        "epoch": 3,
        "step": 1200,
        "weights": "EMA",
    }
    assert block["doc"] == BEST_PT["val_metrics"]["doc"]
    assert block["spans_token"] == BEST_PT["val_metrics"]["spans_token"]


def test_whole_span_validation_figures_are_shown_with_their_split(calibration):
    best = {
        **BEST_PT,
        "val_metrics": {
            **BEST_PT["val_metrics"],
            "spans": {
                "exact": {"micro": {"precision": 0.54, "recall": 0.68, "f1": 0.601}, "per_type": {}},
                "overlap": {"micro": {"precision": 0.7, "recall": 0.88, "f1": 0.779}, "per_type": {}},
            },
        },
    }
    card = render_model_card("v-this", CFG, calibration, checkpoint_metrics(best))
    assert (
        "### Spans, whole values, exact and overlap match (validation split `val`, checkpoint `best.pt` (epoch 3, step 1200), EMA weights)"
        in card
    )
    assert "| exact | micro | 0.540 | 0.680 | 0.601 |" in card
    assert "| overlap | micro | 0.700 | 0.880 | 0.779 |" in card
    assert "No whole-span figures recorded" in render_model_card(
        "v", CFG, calibration, checkpoint_metrics(BEST_PT)
    )


def test_served_validation_auprc_is_shown_with_the_heads_own_context(calibration):
    assert "as served" not in render_model_card("v", CFG, calibration, {})  # an older calibration.json
    calibration.span_min_score = 0.7
    calibration.with_served_auprc(
        {
            "sensitivity": 0.992,
            "exposure": 1.0,
            "context": 0.967,
            "obfuscation": 0.941,
            "context_model": 0.928,
        }
    )
    card = render_model_card("v", CFG, calibration, {})
    assert (
        "as served (calibrated, span floor 0.700): sensitivity 0.992, exposure 1.000, context 0.967, " in card
    )
    assert "obfuscation 0.941. Served context is capped" in card and "the context head alone: 0.928." in card
