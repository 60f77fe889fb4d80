import pytest

from hrm_core.data.contract import Example
from hrm_core.synth.labels import derive_labels

ORG = "acme.example"


def make(body_values, role="OTHER", channel="email", recipients=(f"bob@{ORG}",), links=(), **meta):
    """An example whose body is the given (type|None, text) pieces joined by spaces."""
    body, spans = "", []
    for span_type, text in body_values:
        if body:
            body += " "
        if span_type:
            spans.append({"type": span_type, "start": len(body), "end": len(body) + len(text)})
        body += text
    return Example.model_validate(
        {
            "id": "t",
            "channel": channel,
            "user": {"role": role},
            "recipients": list(recipients),
            "body": body,
            "links": list(links),
            "spans": spans,
            "meta": {"org_domains": [ORG], **meta},
        }
    )


NAME = ("NAME", "Ana Silva")


@pytest.mark.parametrize(
    ("pieces", "sensitive"),
    [
        ([NAME], 0),
        ([("PHONE", "+44 20 7946 0958")], 0),
        ([NAME, ("PHONE", "+44 20 7946 0958")], 1),
        ([NAME, ("ADDR", "12 rue de Rivoli, 75001 Paris")], 1),
        ([NAME, ("EMAIL", f"ana.silva@{ORG}")], 0),  # a work address is business contact data
        ([NAME, ("EMAIL", "ana.silva@gmail.com")], 1),
        ([NAME, ("EMAIL", "YW5hQGdtYWlsLmNvbQ==")], 1),  # hidden address: domain unreadable
        ([(None, "ref"), ("PAN", "4111 1111 1111 1111")], 1),
        ([("MATTER", "2024-LIT-0042")], 1),
        ([(None, "We should sign an NDA before the call.")], 0),
    ],
)
def test_sensitivity_rules(pieces, sensitive):
    assert derive_labels(make(pieces))["sensitivity"] == sensitive


@pytest.mark.parametrize(
    ("recipients", "links", "exposed"),
    [
        ([f"bob@{ORG}"], [], 0),
        (["#eng-infra"], [], 0),
        ([], [f"https://git.{ORG}/billing/pull/12"], 0),  # subdomain of the org
        ([], ["https://github.com/acme-oss/billing/pull/12"], 1),
        ([f"bob@{ORG}", "bob@gmail.com"], [], 1),
        (["counsel@quill-law.example"], [], 1),
        ([f"bob@{ORG}"], ["https://dropbox.com/s/abc"], 1),
        ([], ["not a url"], 1),  # cannot show it stays inside
    ],
)
def test_exposure_rules(recipients, links, exposed):
    assert derive_labels(make([NAME], recipients=recipients, links=links))["exposure"] == exposed


NDA = ("NDA", "The Receiving Party shall hold all Confidential Information in strict confidence.")
SECRET = ("SECRET", "ghp_" + "a1" * 18)


@pytest.mark.parametrize(
    ("kwargs", "context"),
    [
        ({"pieces": [NAME]}, 1),  # not sensitive: nothing to contradict
        ({"pieces": [NDA], "role": "LEGAL", "recipients": ["partner@quill-law.example"]}, 1),
        ({"pieces": [NDA], "role": "LEGAL", "recipients": ["me@gmail.com"]}, 0),
        ({"pieces": [NDA], "role": "ENG", "recipients": ["partner@quill-law.example"]}, 0),
        ({"pieces": [NDA], "role": "SALES", "recipients": ["buyer@fabrikam.example"]}, 1),
        ({"pieces": [SECRET], "role": "ENG"}, 1),
        ({"pieces": [SECRET], "role": "ENG", "recipients": ["ops@fabrikam.example"]}, 0),
        ({"pieces": [SECRET], "role": "ENG", "channel": "pr", "links": [f"https://git.{ORG}/x/pull/1"]}, 0),
        ({"pieces": [("SSN", "123-45-6789")], "role": "HR", "recipients": ["ops@paysphere.example"]}, 1),
        (
            {"pieces": [("PAN", "4111111111111111")], "role": "FINANCE", "recipients": ["a@adyenne.example"]},
            1,
        ),
        ({"pieces": [("PAN", "4111111111111111")], "role": "SALES"}, 0),
        ({"pieces": [("PAN", "4111111111111111"), SECRET], "role": "FINANCE"}, 0),  # no role does both
        (
            {
                "pieces": [NDA],
                "role": "LEGAL",
                "recipients": ["x@lawfirm.example"],
                "meta": {"partner_classes": {"lawfirm.example": "counsel"}},
            },
            1,
        ),
        ({"pieces": [NDA], "role": "LEGAL", "meta": {"obfuscations": ["base64"]}}, 0),
    ],
)
def test_context_rules(kwargs, context):
    kwargs = dict(kwargs)
    meta = kwargs.pop("meta", {})
    assert derive_labels(make(kwargs.pop("pieces"), **kwargs, **meta))["context"] == context


def test_obfuscation_comes_from_meta():
    assert derive_labels(make([NAME]))["obfuscation"] == 0
    assert derive_labels(make([NAME], obfuscations=[]))["obfuscation"] == 0
    labels = derive_labels(make([("SSN", "MTIzLTQ1LTY3ODk=")], role="HR", obfuscations=["base64"]))
    assert labels == {"sensitivity": 1, "exposure": 0, "context": 0, "obfuscation": 1}


def test_span_elements_name_each_value_by_the_element_it_makes_sensitive():
    from hrm_core.synth.labels import span_elements

    work_email = ("EMAIL", f"ana.silva@{ORG}")
    phone = ("PHONE", "+44 20 7946 0958")
    assert span_elements(make([NAME, work_email])) == [None, None]  # business contact data
    assert span_elements(make([NAME, phone, work_email])) == ["PII", "PII", None]
    assert span_elements(make([NAME, ("EMAIL", "ana.silva@gmail.com")])) == ["PII", "PII"]
    assert span_elements(make([phone, ("PAN", "4111 1111 1111 1111")])) == [None, "PAN"]


@pytest.mark.parametrize(
    ("element", "role", "destinations", "channel", "allowed"),
    [
        ("SSN", "HR", {"internal", "payroll"}, "email", True),
        ("SSN", "HR", {"internal", "webmail"}, "email", False),  # one destination outside the workflow
        ("SSN", "FINANCE", {"internal"}, "email", False),  # not this role's job
        ("SECRET", "ENG", {"internal"}, "chat", True),
        ("SECRET", "ENG", {"internal"}, "pr", False),  # never committed
        ("PII", "OTHER", {"internal"}, "email", False),
    ],
)
def test_element_allowed_reads_the_workflow_table(element, role, destinations, channel, allowed):
    from hrm_core.data.workflows import element_allowed

    assert element_allowed(element, role, destinations, channel) is allowed


def test_out_of_workflow_flags_the_values_the_senders_role_may_not_send_there():
    from hrm_core.synth.labels import out_of_workflow

    ssn, pan = ("SSN", "123-45-6789"), ("PAN", "4111 1111 1111 1111")
    payroll = ("bob@acme.example", "pay@adpay.example")
    # HR may send an SSN to payroll, not a card number; a lone name is no element at all.
    assert out_of_workflow(make([NAME, ssn, pan], role="HR", recipients=payroll)) == [False, False, True]
    # The same SSN to a personal mailbox: one destination outside the workflow flags it.
    assert out_of_workflow(make([ssn], role="HR", recipients=("x@gmail.com",))) == [True]
    # A declared outside party counts as its class (meta.partner_classes).
    declared = make([ssn], role="HR", recipients=("x@hr-outsource.example",))
    assert out_of_workflow(declared) == [True]  # an unknown outside domain is a partner
    declared.meta.partner_classes = {"hr-outsource.example": "payroll"}  # type: ignore[attr-defined]
    assert out_of_workflow(declared) == [False]
    # The context label is exactly "no value out of workflow" for a sensitive, unhidden message.
    for ex in (make([ssn, pan], role="HR", recipients=payroll), make([ssn], role="HR", recipients=payroll)):
        assert derive_labels(ex)["context"] == int(not any(out_of_workflow(ex)))
