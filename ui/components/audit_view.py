"""The Audit page's pieces: filters, the events table, the CSV export and the chain check."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import streamlit as st

from promptvault import audit
from promptvault.audit import AuditEventInfo
from promptvault.context import Context
from ui import plain, utc_text
from ui.errors import showing_errors

ANYONE = "Anyone"
ACTIONS = ["", "key.", "key.add", "key.rotate", "key.delete", "key.decrypt", "role.change", "label.", "audit.export"]


def filters(members: list[str], key: str) -> dict[str, Any]:
    """Action prefix, actor and date range, as keyword arguments for audit.list_events / export_csv."""
    action_col, actor_col, dates_col = st.columns([1, 1, 1])
    action = action_col.selectbox("Action", ACTIONS, key=f"{key}.action", accept_new_options=True,
                                  format_func=lambda a: a or "All actions", help="Events whose action starts with this.")
    actor = actor_col.selectbox("Actor", [ANYONE, *members], key=f"{key}.actor", accept_new_options=True,
                                help="Type any e-mail, e.g. of a former member.")
    days = dates_col.date_input("Dates (UTC)", value=[], key=f"{key}.dates", max_value=date.today() + timedelta(days=1),
                                format="YYYY-MM-DD", help="One day, or a first and last day; empty for every day.")
    since, until = _range(days)
    return {"action": (action or "").strip() or None, "actor_email": None if actor in (None, ANYONE) else actor.strip().lower(),
            "since": since, "until": until}


def table(events: list[AuditEventInfo], key: str) -> None:
    """Events newest first: when, who, what, on what, and the details as JSON text."""
    rows = [
        {"ID": e.id, "When (UTC)": utc_text(e.at), "Actor": e.actor or "—", "Action": e.action, "Target": e.target,
         "Details": json.dumps(e.details, sort_keys=True, ensure_ascii=False)}
        for e in events
    ]
    st.dataframe(rows, key=key, hide_index=True, width="stretch",
                 column_config={"ID": st.column_config.NumberColumn(width="small", format="%d")})


def actions(ctx: Context, team_id: int, team_name: str, chosen: dict[str, Any], key: str) -> None:
    """Export CSV and Verify chain side by side; what they produce is shown below them."""
    row = st.container(horizontal=True)
    export = row.button("Export CSV", key=f"{key}.export", icon=":material/download:",
                        help="Exports the events matching the filters; the export is recorded in the audit log.")
    check = row.button("Verify chain", key=f"{key}.verify", icon=":material/verified_user:",
                       help="Recomputes every event's HMAC: an edited, deleted, reordered or truncated event is found.")
    if export:
        _export(ctx, team_id, team_name, chosen, key=f"{key}.download")
    if check:
        _verify(ctx)


def _export(ctx: Context, team_id: int, team_name: str, chosen: dict[str, Any], key: str) -> None:
    """Export the filtered events as CSV (the export is itself an audited event) and offer the file."""
    with showing_errors() as outcome:
        data = audit.export_csv(ctx, team_id, **chosen, limit=10_000)
    if outcome.ok:
        name = f"audit-{''.join(c if c.isalnum() else '-' for c in team_name)}-{date.today():%Y%m%d}.csv"
        st.download_button("Download " + name, data=data, file_name=name, mime="text/csv", key=key,
                           on_click="ignore", type="primary", icon=":material/file_download:")


def _verify(ctx: Context) -> None:
    """Walk the whole HMAC chain and say whether it is intact, or which event is the first bad one."""
    with showing_errors():
        report = audit.verify(ctx.db, ctx.keyring)
        if report.ok:
            st.success(f"The audit chain is intact: {report.checked:,} events verified.", icon=":material/verified:")
        else:
            st.error(plain(f"The audit chain is BROKEN at event {report.first_bad_id}: {report.problem} "
                           f"({report.checked:,} events before it verified)."), icon=":material/gpp_bad:")


def _range(days: Any) -> tuple[datetime | None, datetime | None]:
    """UTC bounds [first day 00:00, day after the last day 00:00) of a picked range; (None, None) for none."""
    picked = [d for d in (days if isinstance(days, (list, tuple)) else [days]) if d]
    if not picked:
        return None, None
    first, last = picked[0], picked[-1]
    return (datetime.combine(first, time.min, tzinfo=timezone.utc),
            datetime.combine(last + timedelta(days=1), time.min, tzinfo=timezone.utc))
