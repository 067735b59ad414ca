"""The Audit page through AppTest on a real workspace: events, filters, CSV export, chain check."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from apptest import ADMIN, EDITOR, checked, errors, open_page
from promptvault import audit, teams, vault
from promptvault.store.tables import AuditEvent

PAGE = "pages/audit.py"

pytestmark = pytest.mark.usefixtures("cheap_hashing")


@pytest.fixture
def admin(app_admin, app_editor):
    """The first admin (owner of Default), with some history: an editor added, a key added and rotated."""
    team_id = teams.team_id_by_name(app_admin, "Default")
    key = vault.add_key(app_admin, team_id, "openai", "sk-audit-page-key-0001", label="=cmd|x")
    vault.replace_key(app_admin, key.id, "sk-audit-page-key-0002")
    return app_admin


def actions(at: AppTest) -> list[str]:
    """The Action column of the events table."""
    return list(at.dataframe[0].value["Action"]) if at.dataframe else []


def test_audit_lists_the_team_events_newest_first(admin):
    at = open_page(PAGE, admin)
    assert actions(at) == ["key.rotate", "key.add", "role.change"]
    table = at.dataframe[0].value
    assert set(table["Actor"]) == {ADMIN} and list(table["Target"])[-1] == EDITOR
    assert "login.success" not in actions(at)  # installation-wide events are not the team's


def test_audit_filters_by_action_prefix_actor_and_dates(admin):
    at = open_page(PAGE, admin)
    at.selectbox(key="audit.filters.action").set_value("key.").run()
    assert actions(at) == ["key.rotate", "key.add"]
    at.selectbox(key="audit.filters.actor").set_value(EDITOR).run()
    assert not at.dataframe and "No events match these filters." in at.info[0].value
    at.selectbox(key="audit.filters.actor").set_value("Anyone")
    at.date_input(key="audit.filters.dates").set_value((date.today() - timedelta(days=3), date.today() - timedelta(days=1))).run()
    assert not at.dataframe
    at.date_input(key="audit.filters.dates").set_value((date.today(), date.today())).run()
    assert actions(at) == ["key.rotate", "key.add"]


def test_audit_export_offers_the_csv_and_is_itself_audited(admin):
    at = checked(open_page(PAGE, admin).button(key="audit.actions.export").click().run())
    [download] = at.get("download_button")
    assert download.proto.label.startswith("Download audit-Default-")
    team_id = teams.team_id_by_name(admin, "Default")
    assert [e.action for e in audit.list_events(admin, team_id, action="audit.export")] == ["audit.export"]


def test_audit_verify_reports_an_intact_chain(admin):
    at = checked(open_page(PAGE, admin).button(key="audit.actions.verify").click().run())
    report = audit.verify(admin.db, admin.keyring)
    assert report.ok
    assert at.success[0].value == f"The audit chain is intact: {report.checked:,} events verified."


def test_audit_verify_names_the_first_edited_event(admin):
    with admin.db.write() as db_session:
        event = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "key.add")).one()
        event.target, bad_id = "key:999", event.id
    at = checked(open_page(PAGE, admin).button(key="audit.actions.verify").click().run())
    message = errors(at)[0]
    assert f"BROKEN at event {bad_id}" in message and "changed after it was written" in message


def test_editor_is_refused_by_the_core(admin, app_editor):
    at = open_page(PAGE, app_editor)
    assert any("audit.read needs the admin role" in e for e in errors(at))
    assert not at.dataframe and not [b for b in at.button if b.key.startswith("audit.")]
