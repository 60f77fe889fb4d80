from hrm_core.data.contract import Example
from hrm_core.synth import summarize


def ex(i, channel, spans, labels, **meta):
    body = "x" * 40
    return Example.model_validate(
        {
            "id": str(i),
            "thread_id": meta.pop("thread_id", None),
            "channel": channel,
            "user": {"role": "ENG"},
            "body": body,
            "labels": labels,
            "spans": [{"type": t, "start": a, "end": b} for t, a, b in spans],
            "meta": meta,
        }
    )


def test_summarize_counts_and_shares():
    examples = [
        ex(
            0,
            "email",
            [("PAN", 0, 4), ("PAN", 5, 9), ("NAME", 10, 12)],
            {"sensitivity": 1, "exposure": 1, "context": 0, "obfuscation": 1},
            obfuscations=["hex"],
            thread_id="t",
        ),
        ex(
            1,
            "chat",
            [],
            {"sensitivity": 0, "exposure": 0, "context": 1, "obfuscation": 0},
            hard_negative=True,
            thread_id="t",
        ),
        ex(2, "chat", [("NAME", 0, 3)], {"sensitivity": 0, "exposure": None, "context": 1, "obfuscation": 0}),
        ex(3, "pr", [], {"sensitivity": 1, "exposure": 0, "context": 1, "obfuscation": 0}, obfuscations=[]),
    ]
    s = summarize(examples)
    assert s["n"] == 4
    assert s["span_counts"]["PAN"] == 2 and s["span_counts"]["NAME"] == 2 and s["span_counts"]["SSN"] == 0
    assert s["span_example_share"]["PAN"] == 0.25 and s["span_example_share"]["NAME"] == 0.5
    assert s["label_prevalence"] == {
        "sensitivity": 0.5,
        "exposure": 0.3333,
        "context": 0.75,
        "obfuscation": 0.25,
    }
    assert s["obfuscation_share"] == 0.25 and s["hard_negative_share"] == 0.25 and s["thread_share"] == 0.5
    assert s["channel_mix"] == {"email": 0.25, "chat": 0.5, "pr": 0.25, "upload": 0.0}


def test_summarize_empty():
    s = summarize([])
    assert s["n"] == 0 and s["label_prevalence"]["sensitivity"] is None and s["obfuscation_share"] == 0.0
