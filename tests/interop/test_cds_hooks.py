"""CDS Hooks services: the record in, cards out, in the spec's own shapes."""

from __future__ import annotations

from typing import Any

import pytest
from tests.interop.cds_examples import (
    AMOXICILLIN,
    KETAMINE,
    PREGNANT,
    blood_pressure,
    card_keys,
    request,
    spec_examples,
)

from ketascreen.errors import Problem
from ketascreen.interop.cds_hooks import (
    NothingToJudge,
    UnknownService,
    discovery,
    handle,
    load_services,
)
from ketascreen.interop.outcome import FhirError
from ketascreen.rules.loader import Content

PATIENT_VIEW = "ketascreen-patient-view"
ORDER_SELECT = "ketascreen-order-select"
BASE = "https://clinic.example/"


def cards(content: Content, service: str, body: Any) -> list[dict[str, Any]]:
    """Call a service and return its cards."""
    answer = handle(service, body, content=content, base_url=BASE)
    assert set(answer) == {"cards"}
    result: list[dict[str, Any]] = answer["cards"]
    return result


def rule_ids(found: list[dict[str, Any]]) -> list[str]:
    """The rule ids of finding cards, in order."""
    return [c["source"]["topic"]["code"] for c in found if "topic" in c["source"]]


class TestDiscovery:
    """GET /cds-services."""

    def test_shape_matches_the_spec_examples(self) -> None:
        """Every field we send appears in the spec's discovery examples."""
        allowed = {
            key
            for example in spec_examples("discovery").values()
            for svc in example["services"]
            for key in svc
        }
        for svc in discovery()["services"]:
            assert set(svc) <= allowed
            assert {"hook", "id", "description"} <= set(svc)

    def test_prefetch_templates_cover_the_record(self) -> None:
        """Patient, conditions, observations, medications and allergies are asked for."""
        prefetch = discovery()["services"][0]["prefetch"]
        assert prefetch["patient"] == "Patient/{{context.patientId}}"
        for key in ("conditions", "observations", "medications", "allergies"):
            assert "patient={{context.patientId}}" in prefetch[key]
        assert "85354-9" in prefetch["observations"]
        assert "82810-3" in prefetch["observations"]

    def test_both_hooks_offered(self) -> None:
        """One patient-view and one order-select service."""
        hooks = {s["id"]: s["hook"] for s in discovery()["services"]}
        assert hooks == {PATIENT_VIEW: "patient-view", ORDER_SELECT: "order-select"}


class TestCards:
    """Cards for a contraindication, a caution, and nothing."""

    def test_contraindication_is_critical(self, content: Content) -> None:
        """A positive pregnancy status gives a critical card citing its rule."""
        found = cards(content, PATIENT_VIEW, request("patient-view", PREGNANT))
        assert "pregnancy.pregnant" in rule_ids(found)
        card = next(
            c
            for c in found
            if c["source"].get("topic", {}).get("code") == "pregnancy.pregnant"
        )
        assert card["indicator"] == "critical"
        assert "**Evidence**" in card["detail"]
        assert "**References**" in card["detail"]
        assert card["overrideReasons"]
        assert card["links"][0]["url"] == BASE + "start"

    def test_caution_is_a_warning(self, content: Content) -> None:
        """A raised blood pressure in the record gives a warning card."""
        found = cards(
            content, PATIENT_VIEW, request("patient-view", blood_pressure(150, 94))
        )
        assert rule_ids(found) == ["cardiovascular.bp_raised_measured"]
        assert found[0]["indicator"] == "warning"
        assert "150" in found[0]["detail"]

    def test_nothing_gives_no_cards(self, content: Content) -> None:
        """A normal record gives no cards on patient-view (no alert fatigue)."""
        assert (
            cards(
                content, PATIENT_VIEW, request("patient-view", blood_pressure(118, 76))
            )
            == []
        )

    def test_summaries_are_short_and_fields_are_the_specs(
        self, content: Content
    ) -> None:
        """Every card has a summary under 140 characters and only spec fields."""
        body = request("order-select", PREGNANT, blood_pressure(150, 94), **KETAMINE)
        allowed = card_keys()
        for card in cards(content, ORDER_SELECT, body):
            assert len(card["summary"]) < 140
            assert card["indicator"] in {"info", "warning", "critical"}
            assert card["source"]["label"]
            assert set(card) <= allowed
            for reason in card.get("overrideReasons", []):
                assert set(reason) == {"system", "code", "display"}
            for link in card.get("links", []):
                assert {"label", "url", "type"} <= set(link)

    def test_no_eligible_wording(self, content: Content) -> None:
        """Cards never say eligible."""
        body = request("order-select", PREGNANT, **KETAMINE)
        text = str(cards(content, ORDER_SELECT, body)).lower()
        assert "eligible" not in text


class TestOrderSelect:
    """The order-select service fires only for ketamine or esketamine."""

    def test_other_orders_get_no_cards(self, content: Content) -> None:
        """An amoxicillin order is not our business."""
        body = request("order-select", PREGNANT, **AMOXICILLIN)
        assert cards(content, ORDER_SELECT, body) == []

    def test_ketamine_order_with_nothing_found_asks_for_the_questionnaire(
        self, content: Content
    ) -> None:
        """Nothing in the record is not "no concerns": it links to the questionnaire."""
        body = request("order-select", blood_pressure(118, 76), **KETAMINE)
        found = cards(content, ORDER_SELECT, body)
        assert [c["indicator"] for c in found] == ["info"]
        assert found[0]["links"][0]["url"] == BASE + "start"
        assert "unknown, not 'no'" in found[0]["detail"]

    def test_esketamine_by_name(self, content: Content) -> None:
        """A brand name in the order text also fires the service."""
        body = request("order-select", PREGNANT, **KETAMINE)
        order = body["context"]["draftOrders"]["entry"][0]["resource"]
        order["medicationCodeableConcept"] = {"text": "SPRAVATO 28 MG nasal spray"}
        assert "pregnancy.pregnant" in rule_ids(cards(content, ORDER_SELECT, body))


class TestMissingPrefetch:
    """What the EHR did not send is named, never taken as "none"."""

    def test_missing_key_is_named_in_a_card(self, content: Content) -> None:
        """Without the medications key, a card says medications were not checked."""
        body = request("patient-view", PREGNANT)
        del body["prefetch"]["medications"]
        found = cards(content, PATIENT_VIEW, body)
        assert "Not checked" in found[-1]["summary"]
        assert "medications" in found[-1]["summary"]

    def test_no_prefetch_at_all_is_412(self, content: Content) -> None:
        """With nothing prefetched there is nothing to judge."""
        body = request("patient-view")
        body["prefetch"] = {}
        with pytest.raises(NothingToJudge, match="prefetch"):
            handle(PATIENT_VIEW, body, content=content, base_url=BASE)


class TestBadRequests:
    """Malformed calls name the field."""

    def test_unknown_service(self, content: Content) -> None:
        """An unknown id is refused."""
        with pytest.raises(UnknownService):
            handle("nope", request("patient-view"), content=content, base_url=BASE)

    def test_wrong_hook(self, content: Content) -> None:
        """A call for another hook names request.hook."""
        with pytest.raises(FhirError) as err:
            handle(
                ORDER_SELECT, request("patient-view"), content=content, base_url=BASE
            )
        assert err.value.problems[0].where == "request.hook"

    def test_missing_fields(self, content: Content) -> None:
        """A body without hookInstance or context names both."""
        with pytest.raises(FhirError) as err:
            handle(
                PATIENT_VIEW, {"hook": "patient-view"}, content=content, base_url=BASE
            )
        where = {p.where for p in err.value.problems}
        assert where == {"request.hookInstance", "request.context"}
        assert all(isinstance(p, Problem) for p in err.value.problems)


class TestSpecExamples:
    """Each of the spec's example requests gets a valid answer."""

    @pytest.mark.parametrize("name", sorted(spec_examples("request")))
    def test_example_request(self, content: Content, name: str) -> None:
        """Cards for a matching hook, 412 without data, a named error otherwise."""
        body = spec_examples("request")[name]
        services = {s.hook: s.id for s in load_services().services}
        if body["hook"] not in services:
            with pytest.raises(FhirError, match="hook"):
                handle(PATIENT_VIEW, body, content=content, base_url=BASE)
            return
        try:
            found = cards(content, services[body["hook"]], body)
        except NothingToJudge:
            assert not body.get("prefetch")
            return
        assert all(c["indicator"] in {"info", "warning", "critical"} for c in found)


class TestUnmapped:
    """Record entries ketascreen cannot read are named, never dropped."""

    def test_unknown_code_card(self, content: Content) -> None:
        """An unknown condition code shows up in an info card beside the findings."""
        body = request("patient-view", PREGNANT)
        body["prefetch"]["conditions"]["entry"] = [
            {
                "resource": {
                    "resourceType": "Condition",
                    "id": "odd",
                    "subject": {"reference": "Patient/p1"},
                    "code": {
                        "coding": [{"system": "http://snomed.info/sct", "code": "1"}]
                    },
                }
            }
        ]
        found = cards(content, PATIENT_VIEW, body)
        assert found[-1]["summary"] == "1 record entries not interpreted"
        assert "Condition/odd" in found[-1]["detail"]


class TestMalformedOrders:
    """A malformed order-select context is named, not a crash."""

    def test_draft_orders_not_a_bundle(self, content: Content) -> None:
        """draftOrders as a list and selections as objects name the fields."""
        body = request("order-select", PREGNANT, **KETAMINE)
        body["context"]["draftOrders"] = [1, 2]
        with pytest.raises(FhirError) as err:
            handle(ORDER_SELECT, body, content=content, base_url=BASE)
        assert err.value.problems[0].where.startswith("request.context")
        body = request("order-select", PREGNANT, **KETAMINE)
        body["context"]["selections"] = [{"x": 1}]
        with pytest.raises(FhirError):
            handle(ORDER_SELECT, body, content=content, base_url=BASE)
