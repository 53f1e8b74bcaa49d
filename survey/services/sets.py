"""Learning sets and peer reviews between trusts, and the deployment benchmark's opt-ins
(SPEC section 11): who may do what, and every change audited.

- Anyone with an account may create a set, and is its first coordinator.
- A coordinator invites a trust by the email of one of its admins; that trust's admins (never a
  viewer) accept or decline; an accepted trust may leave, which withdraws its shares.
- Sharing is the trust's decision, per reported cycle and per set, by name or as the trust's
  letter; withdrawing deletes the share, so the set's report no longer holds its figures.
- Who sees a set: its coordinators and the members of a trust invited to it.
"""

from __future__ import annotations

import secrets
import string

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from survey.config import get_settings
from survey.errors import NotFound, UserError
from survey.mail.messages import render_email
from survey.mail.outbox import enqueue_notice
from survey.models import (
    PEER_REVIEW_MAX_TRUSTS,
    AdminRole,
    AdminUser,
    BenchmarkOptIn,
    Cycle,
    CycleState,
    FrameworkVersion,
    LearningSet,
    MembershipState,
    MessageKind,
    Report,
    SetKind,
    SetMembership,
    SetShare,
    Trust,
    trust_admins,
)
from survey.queries import has_report
from survey.services.accounts import find_admin
from survey.services.audit import record_event
from survey.services.limits import check_length
from survey.services.team import get_role
from survey.timeutil import utcnow

KIND_WORDS = {SetKind.LEARNING: "learning set", SetKind.PEER_REVIEW: "peer review"}
# The smallest number of sharing trusts for a set's report: two would each see the other's
# figures exactly (that is a peer review, which both agreed to).
MIN_SHARERS = 3
# The deployment benchmark is shown only among at least this many trusts.
MIN_BENCHMARK_TRUSTS = 10


def _letters() -> list[str]:
    """A, B, ... Z, then AA, AB, ...: more than any set needs."""
    single = list(string.ascii_uppercase)
    return single + [a + b for a in single for b in single]


def parse_kind(value: str) -> SetKind:
    try:
        return SetKind(value.strip().lower() or SetKind.LEARNING.value)
    except ValueError:
        raise UserError(
            f"{value!r} is not a kind of set (choose learning or peer-review)", field="kind"
        ) from None


# -- reading ----------------------------------------------------------------------------------


def get_set(session: Session, set_id: int) -> LearningSet:
    found = session.get(LearningSet, set_id)
    if found is None:
        raise NotFound(f"no set {set_id}")
    return found


def may_see(admin: AdminUser, lset: LearningSet) -> bool:
    """A coordinator, the operator, or a member of a trust invited to the set (in any state:
    an invited trust's admin reads the page to answer)."""
    if admin.is_superuser or lset.is_coordinator(admin):
        return True
    trust_ids = {t.id for t in admin.trusts}
    return any(m.trust_id in trust_ids for m in lset.memberships)


def may_read_report(admin: AdminUser, lset: LearningSet) -> bool:
    """The set's report (and peer review pack) is for its coordinators and the members of the
    trusts in it (accepted): not for a trust that is only invited, declined or left."""
    if admin.is_superuser or lset.is_coordinator(admin):
        return True
    trust_ids = {t.id for t in admin.trusts}
    return any(m.trust_id in trust_ids for m in lset.accepted)


def get_visible_set(session: Session, admin: AdminUser, set_id: int) -> LearningSet:
    """The set, if this admin may see it; otherwise NotFound, exactly as for a missing one."""
    found = session.get(LearningSet, set_id)
    if found is None or not may_see(admin, found):
        raise NotFound(f"no set {set_id}")
    return found


def list_visible_sets(session: Session, admin: AdminUser) -> list[LearningSet]:
    sets = session.scalars(select(LearningSet).order_by(LearningSet.name, LearningSet.id)).all()
    return [s for s in sets if may_see(admin, s)]


def admin_trusts(session: Session, admin: AdminUser) -> list[Trust]:
    """The trusts this account may act for (as an admin, not a viewer)."""
    if admin.is_superuser:
        return list(session.scalars(select(Trust).order_by(Trust.name)))
    return list(
        session.scalars(
            select(Trust)
            .join(trust_admins, trust_admins.c.trust_id == Trust.id)
            .where(trust_admins.c.admin_id == admin.id, trust_admins.c.role == AdminRole.ADMIN)
            .order_by(Trust.name)
        )
    )


def shares_of(session: Session, lset: LearningSet) -> list[SetShare]:
    """The set's shares from trusts still in it, oldest cycle first."""
    accepted = {m.trust_id for m in lset.accepted}
    rows = session.scalars(
        select(SetShare)
        .join(Cycle, Cycle.id == SetShare.cycle_id)
        .where(SetShare.set_id == lset.id)
        .order_by(Cycle.closes_at, Cycle.id)
    ).all()
    return [s for s in rows if s.trust_id in accepted]


def sharing_trust_count(session: Session, lset: LearningSet) -> int:
    return len({s.trust_id for s in shares_of(session, lset)})


def shareable_cycles(session: Session, lset: LearningSet, trust: Trust) -> list[Cycle]:
    """The trust's reported cycles of the set's framework (a report is what is shared)."""
    return list(
        session.scalars(
            select(Cycle)
            .join(Report, Report.cycle_id == Cycle.id)
            .where(
                Cycle.trust_id == trust.id,
                Cycle.state == CycleState.REPORTED,
                Cycle.framework_key == lset.framework_key,
            )
            .order_by(Cycle.closes_at.desc(), Cycle.id.desc())
        )
    )


# -- changing ---------------------------------------------------------------------------------


def _require_admin_of(session: Session, admin: AdminUser, trust: Trust) -> None:
    if get_role(session, admin, trust) != AdminRole.ADMIN:
        raise UserError(f"only an admin of {trust.name} can do this (not a viewer)")


def _require_coordinator(admin: AdminUser, lset: LearningSet) -> None:
    if not (admin.is_superuser or lset.is_coordinator(admin)):
        raise UserError(f"only a coordinator of {lset.name} can do this")


def _require_framework(session: Session, framework_key: str) -> None:
    known = session.scalar(
        select(FrameworkVersion.id).where(FrameworkVersion.key == framework_key).limit(1)
    )
    if known is None:
        raise UserError(f"there is no framework {framework_key[:80]!r}", field="framework")


def create_set(
    session: Session,
    admin: AdminUser,
    name: str,
    kind: SetKind = SetKind.LEARNING,
    framework_key: str = "mat-assurance",
) -> LearningSet:
    name = " ".join(name.split())
    if not name:
        raise UserError("give the set a name", field="name")
    check_length(name, LearningSet.name, "the name", field="name")
    _require_framework(session, framework_key)
    lset = LearningSet(name=name, kind=kind, framework_key=framework_key, coordinators=[admin])
    session.add(lset)
    session.flush()
    record_event(session, admin.email, "set.create", detail=f"set {lset.id} {name!r} ({kind})")
    return lset


def add_coordinator(session: Session, lset: LearningSet, email: str, actor: AdminUser) -> AdminUser:
    _require_coordinator(actor, lset)
    other = find_admin(session, email)
    if other is None or not other.is_active:
        raise UserError(f"no active account for {email!r}", field="email")
    if not lset.is_coordinator(other):
        lset.coordinators.append(other)
        record_event(
            session, actor.email, "set.coordinator", detail=f"set {lset.id}: {other.email}"
        )
    return other


def _trust_for_invitation(session: Session, admin: AdminUser, trust_slug: str | None) -> Trust:
    trusts = admin_trusts(session, admin) if not admin.is_superuser else []
    if trust_slug:
        found = next((t for t in trusts if t.slug == trust_slug), None)
        if found is None:
            raise UserError(f"{admin.email} is not an admin of a trust {trust_slug!r}")
        return found
    if not trusts:
        raise UserError(f"{admin.email} is not an admin of any trust", field="email")
    if len(trusts) > 1:
        # Not which: anyone with an account may coordinate a set, and a refused invitation
        # must not list another account's trusts (ask the invitee for the short name).
        raise UserError(
            f"{admin.email} is an admin of several trusts: name the trust by its short name",
            field="trust",
        )
    return trusts[0]


def invite_trust(
    session: Session,
    lset: LearningSet,
    email: str,
    actor: AdminUser,
    trust_slug: str | None = None,
) -> SetMembership:
    """Invite the trust that `email` is an admin of (or `trust_slug`, one of theirs). Its letter
    is drawn at random from those not yet used in the set, and kept."""
    _require_coordinator(actor, lset)
    invitee = find_admin(session, email)
    if invitee is None or not invitee.is_active:
        raise UserError(f"no active account for {email.strip()!r}", field="email")
    trust = _trust_for_invitation(session, invitee, trust_slug)
    membership = lset.membership_of(trust)
    if membership is not None:
        if not membership.can("invite"):
            raise UserError(f"{trust.name} is already {membership.state.value} in this set")
        membership.state = MembershipState.INVITED
        membership.invited_email = invitee.email
        membership.invited_at = utcnow()
        membership.answered_at = None
    else:
        _ensure_room(lset, len(lset.memberships))
        used = {m.letter for m in lset.memberships}
        free = [x for x in _letters() if x not in used]
        # A single letter while one is free (Trust C), then two (Trust AB); at random.
        letter = secrets.choice([x for x in free if len(x) == len(free[0])])
        membership = SetMembership(
            trust=trust, letter=letter, invited_email=invitee.email, state=MembershipState.INVITED
        )
        lset.memberships.append(membership)
    session.flush()
    others = [m.trust.name for m in lset.accepted]
    rendered = render_email(
        "set-invite",
        inviter=actor.name or actor.email,
        trust_name=trust.name,
        set_name=lset.name,
        kind_words=KIND_WORDS[lset.kind],
        others=", ".join(others),
        link=f"{get_settings().base_url}/sets/{lset.id}",
    )
    enqueue_notice(
        session,
        MessageKind.SET_INVITE,
        f"set:{lset.id}:trust{trust.id}:{membership.invited_at.isoformat()}",
        invitee.email,
        rendered,
    )
    record_event(
        session,
        actor.email,
        "set.invite",
        trust=trust,
        detail=f"set {lset.id} {lset.name!r}: invitation to {invitee.email}",
    )
    return membership


def _ensure_room(lset: LearningSet, taken: int) -> None:
    """A peer review is between at most PEER_REVIEW_MAX_TRUSTS trusts; `taken` places are."""
    if lset.is_peer_review and taken >= PEER_REVIEW_MAX_TRUSTS:
        raise UserError(f"a peer review is between at most {PEER_REVIEW_MAX_TRUSTS} trusts")


def _membership(lset: LearningSet, trust: Trust) -> SetMembership:
    membership = lset.membership_of(trust)
    if membership is None:
        raise UserError(f"{trust.name} has not been invited to this set")
    return membership


def answer_invitation(
    session: Session, lset: LearningSet, trust: Trust, admin: AdminUser, *, accept: bool
) -> SetMembership:
    _require_admin_of(session, admin, trust)
    membership = _membership(lset, trust)
    action = "accept" if accept else "decline"
    membership.ensure_can(action)
    if accept:
        _ensure_room(lset, len(lset.accepted))
    membership.state = MembershipState.ACCEPTED if accept else MembershipState.DECLINED
    membership.answered_at = utcnow()
    record_event(session, admin.email, f"set.{action}", trust=trust, detail=f"set {lset.id}")
    return membership


def leave_set(session: Session, lset: LearningSet, trust: Trust, admin: AdminUser) -> int:
    """The trust leaves; its shares with the set are withdrawn. Returns how many."""
    _require_admin_of(session, admin, trust)
    membership = _membership(lset, trust)
    membership.ensure_can("leave")
    membership.state = MembershipState.LEFT
    membership.answered_at = utcnow()
    shares = session.scalars(
        select(SetShare).where(SetShare.set_id == lset.id, SetShare.trust_id == trust.id)
    ).all()
    for share in shares:
        session.delete(share)
    session.flush()
    record_event(
        session,
        admin.email,
        "set.leave",
        trust=trust,
        detail=f"set {lset.id}; {len(shares)} share(s) withdrawn",
    )
    return len(shares)


def share_cycle(
    session: Session, lset: LearningSet, cycle: Cycle, admin: AdminUser, *, as_name: bool
) -> SetShare:
    """Share a reported cycle with the set, by name or as the trust's letter (sharing again
    changes only how it appears)."""
    trust = cycle.trust
    _require_admin_of(session, admin, trust)
    membership = _membership(lset, trust)
    if membership.state != MembershipState.ACCEPTED:
        raise UserError(f"{trust.name} is {membership.state.value} in this set: accept first")
    if cycle.framework_key != lset.framework_key:
        raise UserError(
            f"this set compares {lset.framework_key} cycles; this cycle is {cycle.framework_key}"
        )
    if cycle.state != CycleState.REPORTED or not has_report(session, cycle):
        raise UserError("only a reported cycle can be shared (its report is what is shared)")
    share = session.scalar(
        select(SetShare).where(SetShare.set_id == lset.id, SetShare.cycle_id == cycle.id)
    )
    if share is None:
        share = SetShare(set_id=lset.id, trust_id=trust.id, cycle_id=cycle.id)
        try:
            # Two shares of one cycle at once (a double click, two admins): the second finds
            # the first's row by the unique key and is refused in words, not with an error page.
            with session.begin_nested():
                share.as_name, share.shared_at = as_name, utcnow()
                session.add(share)
                session.flush()
        except IntegrityError:
            raise UserError(
                "this cycle was shared with the set a moment ago: reload the page to see how"
            ) from None
    share.as_name = as_name
    share.shared_at = utcnow()
    session.flush()
    shown = "by name" if as_name else f"as {membership.letter_name}"
    record_event(
        session,
        admin.email,
        "set.share",
        cycle=cycle,
        detail=f"set {lset.id} {lset.name!r}, {shown}",
    )
    return share


def withdraw_share(session: Session, lset: LearningSet, cycle: Cycle, admin: AdminUser) -> None:
    _require_admin_of(session, admin, cycle.trust)
    share = session.scalar(
        select(SetShare).where(SetShare.set_id == lset.id, SetShare.cycle_id == cycle.id)
    )
    if share is None:
        raise UserError("this cycle is not shared with this set")
    session.delete(share)
    session.flush()
    record_event(session, admin.email, "set.withdraw", cycle=cycle, detail=f"set {lset.id}")


# -- the benchmark's opt-ins -------------------------------------------------------------------


def is_opted_in(session: Session, trust: Trust, framework_key: str) -> bool:
    return session.get(BenchmarkOptIn, (trust.id, framework_key)) is not None


def set_benchmark_opt_in(
    session: Session, trust: Trust, framework_key: str, admin: AdminUser, *, opt_in: bool
) -> None:
    _require_admin_of(session, admin, trust)
    _require_framework(session, framework_key)
    row = session.get(BenchmarkOptIn, (trust.id, framework_key))
    if opt_in and row is None:
        session.add(BenchmarkOptIn(trust_id=trust.id, framework_key=framework_key))
    elif not opt_in and row is not None:
        session.delete(row)
    else:
        return
    session.flush()
    action = "benchmark.opt-in" if opt_in else "benchmark.opt-out"
    record_event(session, admin.email, action, trust=trust, detail=framework_key)
