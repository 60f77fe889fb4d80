import pytest

from hrm_core.release.policy import PolicyError, default_policy_text, load_policy, parse_policy


def _scores(sensitivity=0.5, exposure=0.5, context=0.5, obfuscation=0.0):
    return {"sensitivity": sensitivity, "exposure": exposure, "context": context, "obfuscation": obfuscation}


@pytest.fixture(scope="module")
def policy():
    return load_policy()


@pytest.mark.parametrize(
    ("scores", "decision"),
    [
        (_scores(0.1, 0.1), "ALLOW"),  # both below 0.2: early allow
        (_scores(0.1, 0.25), "ALLOW_WITH_WARNING"),  # exposure not low enough
        (_scores(0.2, 0.1), "ALLOW_WITH_WARNING"),  # "< 0.2" is strict
        (_scores(0.95, 0.8), "BLOCK"),  # sensitive and external
        (_scores(0.95, 0.1, obfuscation=0.7), "BLOCK"),  # sensitive and hidden
        (_scores(0.95, 0.7, obfuscation=0.6), "ALLOW_WITH_WARNING"),  # "> 0.7", "> 0.6" are strict
        (_scores(0.9, 0.99), "ALLOW_WITH_WARNING"),  # sensitivity must exceed 0.9
    ],
)
def test_default_policy_follows_the_early_exit_rules(policy, scores, decision):
    assert policy.decide(scores, [])[0] == decision


def test_rationale_lists_the_rule_and_the_evidence(policy):
    spans = [{"type": "PAN", "start": 0, "end": 16}, {"type": "NDA", "start": 20, "end": 23}]
    decision, why = policy.decide(_scores(0.97, 0.9, context=0.8), spans)
    assert decision == "BLOCK"
    assert why == [
        "Highly sensitive content leaving the organisation or hidden",
        "PII detected",
        "Legal or NDA-covered content",
        "External recipient or destination",
        "Consistent with the sender's workflow",
    ]
    _, why = policy.decide(_scores(0.5, 0.1, context=0.5), [])
    assert why == []  # WARN by default, no rule fired, nothing to point at


def test_span_type_rule_and_custom_default():
    text = """
rules:
  - {decision: BLOCK, reason: "Credential", span_types: [SECRET], all: {exposure: ">= 0.5"}}
default: ALLOW
"""
    policy = parse_policy(text)
    secret = [type("Span", (), {"type": "SECRET"})()]  # objects with .type work as dicts do
    assert policy.decide(_scores(exposure=0.6), secret) == ("BLOCK", ["Credential"])
    assert policy.decide(_scores(exposure=0.4), secret) == ("ALLOW", [])
    assert policy.decide(_scores(exposure=0.9), []) == ("ALLOW", [])


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("rules: [{decision: MAYBE, reason: x}]", "rules.0.decision"),
        ("rules: [{decision: BLOCK, reason: x, all: {secrecy: '> 0.5'}}]", "unknown head 'secrecy'"),
        ("rules: [{decision: BLOCK, reason: x, all: {exposure: 'high'}}]", "is not like"),
        ("rules: [{decision: BLOCK, reason: x, span_types: [IBAN]}]", "unknown span types ['IBAN']"),
        ("rules: [{decision: BLOCK, reason: x, when: 1}]", "rules.0.when"),
        ("- just a list", "mapping"),
        ("rules: [", "not valid YAML"),
    ],
)
def test_bad_policy_names_the_field(text, fragment):
    with pytest.raises(PolicyError) as err:
        parse_policy(text)
    assert fragment in str(err.value)


def test_missing_head_is_an_error(policy):
    with pytest.raises(KeyError, match="obfuscation"):
        policy.decide({"sensitivity": 0.1, "exposure": 0.1, "context": 0.5}, [])


def test_default_text_parses_to_the_same_policy(policy):
    assert parse_policy(default_policy_text()) == policy
