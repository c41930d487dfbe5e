"""`.svc.yml`: what it keeps, how an older one is read, and the render identity it defines."""

from __future__ import annotations

import pytest

from scaffold import provenance, render_record
from scaffold.errors import ProvenanceError

DOC = """\
schema_version: 1
svc_version: 0.1.0
deploy: {realms: [dev, prod]}
layers:
- source: https://git.example.com/platform/service.git
  format: copier
  ref: v1.0.0
  commit: 0123456789abcdef0123456789abcdef01234567
  version: 1.0.0
  signed_by: ops
answers:
  service_name: billing
  port: 9000
"""


def test_keys_a_newer_svc_wrote_are_kept_when_the_file_is_rewritten():
    prov = provenance.parse(DOC, ".svc.yml")
    again = provenance.parse(prov.to_yaml(), ".svc.yml")
    assert again.unknown == {"deploy": {"realms": ["dev", "prod"]}}
    assert again.layers[0].unknown == {"signed_by": "ops"}
    assert render_record.digest(again) == render_record.digest(prov)


def test_an_older_schema_is_read_through_each_upgrade_step(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(provenance, "SCHEMA_VERSION", 3)
    steps = {
        1: lambda doc: {**doc, "answers": {**doc["answers"], "owner": "platform"}},
        2: lambda doc: {**doc, "answers": {**doc["answers"], "owner": doc["answers"]["owner"] + "-team"}},
    }
    monkeypatch.setattr(provenance, "UPGRADES", steps)
    prov = provenance.parse(DOC, ".svc.yml")
    assert prov.answers["owner"] == "platform-team"
    assert prov.schema_version == 3


def test_a_schema_with_no_way_forward_is_refused_with_a_remedy(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(provenance, "SCHEMA_VERSION", 2)
    with pytest.raises(ProvenanceError, match="update the service with the svc that wrote it"):
        provenance.parse(DOC, ".svc.yml")
    with pytest.raises(ProvenanceError, match="upgrade svc"):
        provenance.parse(DOC.replace("schema_version: 1", "schema_version: 7"), ".svc.yml")


def test_an_answer_given_as_text_and_one_recorded_as_a_number_are_one_render():
    recorded = provenance.parse(DOC, ".svc.yml")
    given = recorded.with_answers({**recorded.answers, "port": "9000"})
    assert render_record.digest(given) == render_record.digest(recorded)
    other = recorded.with_answers({**recorded.answers, "port": 9001})
    assert render_record.digest(other) != render_record.digest(recorded)


def test_the_render_identity_ignores_the_ref_label_and_svc_version():
    prov = provenance.parse(DOC, ".svc.yml")
    relabelled = provenance.parse(DOC.replace("ref: v1.0.0", "ref: main").replace("0.1.0", "0.2.0"), "x")
    assert render_record.digest(relabelled) == render_record.digest(prov)
    moved = provenance.parse(DOC.replace("0123456789abcdef", "fedcba9876543210", 1), "x")
    assert render_record.digest(moved) != render_record.digest(prov)
