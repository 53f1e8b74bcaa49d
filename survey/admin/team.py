"""A trust's team on its page: invite a co-admin by email with a role, change a member's role,
remove a member (never the last admin). And the rule that makes a viewer a viewer: every POST a
viewer sends about their trust (an address with its slug or one of its cycles' ids) is refused
with 403 before any view runs, whichever view it is, including ones added later.
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from survey.admin import bp
from survey.admin.auth import (
    current_admin,  # importing auth registers require_admin first
    visible_trust,
)
from survey.db import db
from survey.models import AdminRole
from survey.services import team

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@bp.before_request
def refuse_viewer_changes() -> ResponseReturnValue | None:
    """Runs after `auth.require_admin` (imported above, so registered first): note the member's
    role for the page, and refuse a viewer's POST outright."""
    g.is_viewer = False
    admin = g.get("admin")
    args = request.view_args or {}
    if admin is None or not ("slug" in args or "cycle_id" in args):
        return None
    trust = team.trust_of_request(db.session, args.get("slug"), args.get("cycle_id"))
    if trust is None:
        return None  # the view says "not found", exactly as for anyone
    role = team.get_role(db.session, admin, trust)
    g.is_viewer = role == AdminRole.VIEWER
    if g.is_viewer and request.method not in SAFE_METHODS:
        page = render_template(
            "admin/forbidden.html",
            trust=trust,
            admins=team.list_admin_names(db.session, trust),
        )
        return page, 403
    return None


def _role_phrase(role: AdminRole) -> str:
    return "an admin" if role == AdminRole.ADMIN else "a viewer"


@bp.post("/trusts/<slug>/team/invite")
def invite_member(slug: str) -> ResponseReturnValue:
    found = visible_trust(slug)
    role = team.parse_role(request.form.get("role", ""))
    admin = team.invite_member(
        db.session,
        found,
        request.form.get("email", ""),
        role,
        current_admin(),
        name=request.form.get("name", ""),
    )
    flash(
        f"{admin.email} is now {_role_phrase(role)} of "
        f"{found.name}. An invitation email is on its way to them.",
        "success",
    )
    return redirect(url_for("admin.trust", slug=found.slug, _anchor="team"), code=303)


@bp.post("/trusts/<slug>/team/<int:admin_id>/role")
def change_member_role(slug: str, admin_id: int) -> ResponseReturnValue:
    found = visible_trust(slug)
    role = team.parse_role(request.form.get("role", ""))
    member = team.change_role(db.session, found, admin_id, role, current_admin().email)
    flash(f"{member.email} is now {_role_phrase(role)}.", "success")
    return redirect(url_for("admin.trust", slug=found.slug, _anchor="team"), code=303)


@bp.post("/trusts/<slug>/team/<int:admin_id>/remove")
def remove_member(slug: str, admin_id: int) -> ResponseReturnValue:
    found = visible_trust(slug)
    member = team.remove_member(db.session, found, admin_id, current_admin().email)
    flash(f"{member.email} no longer has access to {found.name}.", "success")
    if member.id == current_admin().id and not current_admin().is_superuser:
        return redirect(url_for("admin.trusts"), code=303)
    return redirect(url_for("admin.trust", slug=found.slug, _anchor="team"), code=303)
