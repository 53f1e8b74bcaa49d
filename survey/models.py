"""The data model for the whole product.

Anonymity is kept by the schema (SPEC section 5): `responses` and `ratings` carry no key, column,
timestamp or ordering that could join them to `invitations` (or to anything that names a person).
The only thing they share with an invitation is the cycle and the group, which is the granularity
at which results are reported. `tests/test_anonymity_schema.py` reads this schema and proves it.
"""

from __future__ import annotations

import enum
import secrets
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ColumnElement,
    Enum,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from survey.errors import IllegalTransition, UserError
from survey.timeutil import UTCDateTime, as_utc, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    """Enums are stored as their values in a VARCHAR with a CHECK, the same on both databases."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


def comment_threshold(min_group_size: int, min_comment_group_size: int) -> int:
    """How many of a group must answer before its comments are shown: never fewer than the
    number that shows its figures. The one statement of the rule (cycles, reports, pages)."""
    return max(min_group_size, min_comment_group_size)


def random_response_id() -> str:
    """Response ids are random so that neither their value nor their order says anything."""
    return secrets.token_hex(16)


# --------------------------------------------------------------------------------------------
# Trusts and the people who run them
# --------------------------------------------------------------------------------------------


class AdminRole(enum.StrEnum):
    """What a member of a trust may do there: an admin everything, a viewer only read."""

    ADMIN = "admin"
    VIEWER = "viewer"


trust_admins = Table(
    "trust_admins",
    Base.metadata,
    Column("trust_id", ForeignKey("trusts.id", ondelete="CASCADE"), primary_key=True),
    Column("admin_id", ForeignKey("admin_users.id", ondelete="CASCADE"), primary_key=True),
    # The member's role in this trust (survey/services/team.py reads and changes it).
    Column(
        "role",
        _enum(AdminRole, "admin_role"),
        nullable=False,
        default=AdminRole.ADMIN,
        server_default=AdminRole.ADMIN.value,
    ),
)


class Trust(Base):
    __tablename__ = "trusts"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    cycles: Mapped[list[Cycle]] = relationship(back_populates="trust", order_by="Cycle.id")
    admins: Mapped[list[AdminUser]] = relationship(secondary=trust_admins, back_populates="trusts")


class AdminUser(Base):
    """A person who runs cycles: a CEO, or a director acting for them."""

    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    # A superuser (the deployment's operator) sees every trust; others only their own.
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    trusts: Mapped[list[Trust]] = relationship(secondary=trust_admins, back_populates="admins")

    def can_see(self, trust: Trust) -> bool:
        return self.is_superuser or any(t.id == trust.id for t in self.trusts)


class AdminSession(Base):
    """A signed-in admin's session, held on the server so that signing out really ends it.

    The session cookie carries a random token; only its SHA-256 is stored, so a copy of the
    database cannot sign anyone in. A row is deleted at sign-out, when it expires, and with every
    other session of the account when its password is reset or the account is deactivated.
    """

    __tablename__ = "admin_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256, hex
    admin_id: Mapped[int] = mapped_column(
        ForeignKey("admin_users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Fixed at sign-in (PERMANENT_SESSION_LIFETIME later); using a session does not extend it.
    expires_at: Mapped[datetime]

    admin: Mapped[AdminUser] = relationship()


class AdminLinkPurpose(enum.StrEnum):
    SIGN_IN = "sign-in"  # an emailed sign-in link (kind admin-login)
    PASSWORD_RESET = "password-reset"
    INVITE = "invite"  # an invitation to a trust: set a password


class AdminLink(Base):
    """A single-use link emailed to an admin: sign in, reset the password, or accept an invitation.

    Minted by the dispatcher when it sends the email (never stored in the outbox); only the
    SHA-256 of the link's random token is kept, so a copy of the database holds no usable link.
    The row is deleted when the link is used (single use) and once it has expired.
    """

    __tablename__ = "admin_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256, hex
    admin_id: Mapped[int] = mapped_column(
        ForeignKey("admin_users.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[AdminLinkPurpose] = mapped_column(_enum(AdminLinkPurpose, "admin_link_purpose"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]

    admin: Mapped[AdminUser] = relationship()


class FrameworkVersion(Base):
    """A framework file exactly as it was loaded: cycles pin (key, version), so later edits to a
    file never change what a past cycle asked or how its report reads."""

    __tablename__ = "framework_versions"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80))
    version: Mapped[str] = mapped_column(String(64))  # content hash of source_text
    title: Mapped[str] = mapped_column(String(200))
    source_text: Mapped[str] = mapped_column(Text)
    is_builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    # A trust's own framework is offered to that trust only; None means every trust.
    trust_id: Mapped[int | None] = mapped_column(ForeignKey("trusts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --------------------------------------------------------------------------------------------
# Cycles
# --------------------------------------------------------------------------------------------


class CycleState(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"
    REPORTED = "reported"


# The states each change to a cycle may start from: the one statement of each rule, asked by the
# transitions below and by the pages that offer them (`Cycle.can_close` and the like).
TRANSITIONS_FROM: dict[str, tuple[CycleState, ...]] = {
    "edit": (CycleState.DRAFT,),
    "launch": (CycleState.DRAFT,),
    "open": (CycleState.SCHEDULED,),
    "extend": (CycleState.SCHEDULED, CycleState.OPEN),
    "close": (CycleState.OPEN,),
    "report on": (CycleState.CLOSED,),
}

# The trust-wide column of a report (every shown group together): its key, which no group may
# use, and its name. Stored as a report figure's group_key too.
ALL_SHOWN = "all"
ALL_SHOWN_LABEL = "All shown groups"
DEFAULT_GROUPS: tuple[tuple[str, str], ...] = (
    ("executive", "Executive leaders and chair"),
    ("headteacher", "Headteachers"),
    ("middle-leader", "Middle leaders"),
)
DEFAULT_REMINDER_DAYS = "7,2"
# The smallest group whose answers may be shown (SPEC section 5); the database checks it too.
MIN_THRESHOLD = 3


class Cycle(Base):
    """One review round of one trust. State transitions live here and refuse illegal moves."""

    __tablename__ = "cycles"
    __table_args__ = (
        CheckConstraint("min_group_size >= 3", name="min_group_size_at_least_3"),
        CheckConstraint("min_comment_group_size >= 3", name="min_comment_group_size_at_least_3"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    trust_id: Mapped[int] = mapped_column(ForeignKey("trusts.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    framework_key: Mapped[str] = mapped_column(String(80))
    framework_version: Mapped[str] = mapped_column(String(64))
    # "start" (questions to start with), "all", or element codes such as "1A,2B".
    scope: Mapped[str] = mapped_column(String(200), default="all")
    state: Mapped[CycleState] = mapped_column(
        _enum(CycleState, "cycle_state"), default=CycleState.DRAFT
    )
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    min_group_size: Mapped[int] = mapped_column(Integer, default=3)
    min_comment_group_size: Mapped[int] = mapped_column(Integer, default=5)
    # Comma-separated email addresses that receive the compiled report.
    report_recipients: Mapped[str] = mapped_column(Text, default="")
    previous_cycle_id: Mapped[int | None] = mapped_column(
        ForeignKey("cycles.id", ondelete="SET NULL")
    )
    # Days before close on which reminders go out, comma-separated, e.g. "7,2".
    reminder_days: Mapped[str] = mapped_column(String(100), default=DEFAULT_REMINDER_DAYS)
    remind_at_weekends: Mapped[bool] = mapped_column(Boolean, default=False)
    # Who the invitations and reminders come from (a person, such as the CEO): their name and
    # role are shown as the sender, their address is the Reply-To; with a short personal note.
    sender_name: Mapped[str | None] = mapped_column(String(200))
    sender_role: Mapped[str | None] = mapped_column(String(200))
    reply_to: Mapped[str | None] = mapped_column(String(320))
    invitation_note: Mapped[str | None] = mapped_column(Text)
    # The CEO reviews the comments before the report is emailed (survey/services/report_review).
    is_report_held: Mapped[bool] = mapped_column(Boolean, default=False)
    # When a held report was released to be compiled (again) and emailed.
    report_released_at: Mapped[datetime | None]
    # Counts hides and un-hides of comments, so a report compiled from older inputs is not kept.
    comment_review_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    launched_at: Mapped[datetime | None]
    opened_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    sealed_at: Mapped[datetime | None]
    reported_at: Mapped[datetime | None]
    purged_at: Mapped[datetime | None]

    trust: Mapped[Trust] = relationship(back_populates="cycles")
    groups: Mapped[list[Group]] = relationship(
        back_populates="cycle", order_by="Group.position", cascade="all, delete-orphan"
    )
    previous_cycle: Mapped[Cycle | None] = relationship(remote_side=[id])

    # -- derived -----------------------------------------------------------------------------

    @property
    def report_recipient_list(self) -> list[str]:
        return [r.strip() for r in self.report_recipients.split(",") if r.strip()]

    @property
    def reminder_day_list(self) -> list[int]:
        return sorted({int(d) for d in self.reminder_days.split(",") if d.strip()}, reverse=True)

    @property
    def is_editable(self) -> bool:
        return self.state in TRANSITIONS_FROM["edit"]

    @property
    def is_accepting_invitations(self) -> bool:
        return self.state in (CycleState.DRAFT, CycleState.SCHEDULED, CycleState.OPEN)

    @property
    def sender_display_name(self) -> str | None:
        """How invitations and reminders show who they are from, if the cycle names a person."""
        return f"{self.sender_name} ({self.trust.name})" if self.sender_name else None

    @property
    def comment_threshold(self) -> int:
        return comment_threshold(self.min_group_size, self.min_comment_group_size)

    @property
    def is_open(self) -> bool:
        """People can answer now (and be reminded)."""
        return self.state == CycleState.OPEN

    @property
    def is_under_way(self) -> bool:
        """Launched and not yet closed: scheduled or open."""
        return self.state in (CycleState.SCHEDULED, CycleState.OPEN)

    @property
    def can_extend(self) -> bool:
        return self.state in TRANSITIONS_FROM["extend"]

    @property
    def can_launch(self) -> bool:
        return self.state in TRANSITIONS_FROM["launch"]

    @property
    def can_close(self) -> bool:
        return self.state in TRANSITIONS_FROM["close"]

    @property
    def can_purge(self) -> bool:
        """Personal data may be removed once the report has been sent, and only once."""
        return self.state == CycleState.REPORTED and self.purged_at is None

    def group_by_key(self, key: str) -> Group | None:
        return next((g for g in self.groups if g.key == key), None)

    # -- transitions -------------------------------------------------------------------------

    def _require(self, action: str) -> None:
        states = TRANSITIONS_FROM[action]
        if self.state not in states:
            allowed = " or ".join(s.value for s in states)
            raise IllegalTransition(
                f"cannot {action} this cycle: it is {self.state.value} (must be {allowed})"
            )

    def ensure_editable(self) -> None:
        self._require("edit")

    def ensure_accepts_invitations(self) -> None:
        if not self.is_accepting_invitations:
            raise UserError(f"this cycle is {self.state.value}: it takes no more invitations")

    def ensure_open(self, what: str) -> None:
        """`what` can be done only while the cycle is open, e.g. "invitations can be sent
        again"."""
        if not self.is_open:
            raise UserError(f"{what} only while the cycle is open (it is {self.state.value})")

    def ensure_can_purge(self) -> None:
        if self.purged_at is not None:
            raise UserError("this cycle's personal data has already been removed")
        if self.state != CycleState.REPORTED:
            raise UserError(
                f"cannot remove personal data yet: the cycle is {self.state.value} "
                "(it can be removed once the report has been sent)"
            )

    @staticmethod
    def check_dates(opens_at: datetime, closes_at: datetime) -> str | None:
        """The one rule on a cycle's dates: it closes after it opens."""
        if as_utc(closes_at) <= as_utc(opens_at):
            return "the close date must be after the open date"
        return None

    @staticmethod
    def check_threshold(size: int, what: str) -> str | None:
        """The one rule on a group-size threshold (the database's CHECK repeats it)."""
        if size < MIN_THRESHOLD:
            return f"{what} must be {MIN_THRESHOLD} or more, to keep answers anonymous"
        return None

    def launch(self, *, invitation_count: int, now: datetime | None = None) -> None:
        """Lock the set-up and schedule the cycle; it opens when `opens_at` comes."""
        self._require("launch")
        now = now or utcnow()
        problems = []
        if invitation_count < 1:
            problems.append("it has no invitations (add recipients first)")
        dates = Cycle.check_dates(self.opens_at, self.closes_at)
        if dates:
            problems.append(dates)
        if as_utc(self.closes_at) <= now:
            problems.append("its close date has already passed")
        if not self.report_recipient_list:
            problems.append("it has no report recipients")
        if not self.groups:
            problems.append("it has no groups")
        if problems:
            raise UserError("cannot launch: " + "; ".join(problems))
        self.state = CycleState.SCHEDULED
        self.launched_at = now

    def open(self, now: datetime | None = None) -> None:
        self._require("open")
        now = now or utcnow()
        if now < as_utc(self.opens_at):
            raise IllegalTransition("cannot open this cycle before its open date")
        self.state = CycleState.OPEN
        self.opened_at = now

    def extend(self, closes_at: datetime, now: datetime | None = None) -> None:
        self._require("extend")
        now = now or utcnow()
        if as_utc(closes_at) <= now:
            raise UserError("cannot extend: the new close date has already passed")
        if Cycle.check_dates(self.opens_at, closes_at):
            raise UserError("cannot extend: the new close date is before it opens")
        if as_utc(closes_at) <= as_utc(self.closes_at):
            raise UserError("cannot extend: the new close date is not later than the current one")
        self.closes_at = closes_at

    def close(self, now: datetime | None = None) -> None:
        self._require("close")
        self.state = CycleState.CLOSED
        self.closed_at = now or utcnow()

    def mark_reported(self, now: datetime | None = None) -> None:
        self._require("report on")
        self.state = CycleState.REPORTED
        self.reported_at = now or utcnow()


class Group(Base):
    """A group of respondents within a cycle: results are compared group by group."""

    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("cycle_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(120))
    # An open group's results are shown even below the threshold; its members are told so first.
    is_open: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)

    cycle: Mapped[Cycle] = relationship(back_populates="groups")


# --------------------------------------------------------------------------------------------
# Invitations: who was asked. Lives apart from what was answered.
# --------------------------------------------------------------------------------------------


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class Invitation(Base):
    """One person's place in a cycle. Records only *whether* it was completed, never when."""

    __tablename__ = "invitations"
    __table_args__ = (
        UniqueConstraint("cycle_id", "email"),
        CheckConstraint("NOT (is_completed AND is_declined)", name="completed_or_declined"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    email: Mapped[str | None] = mapped_column(String(320))  # None once purged
    name: Mapped[str | None] = mapped_column(String(200))
    school: Mapped[str | None] = mapped_column(String(200))
    is_completed: Mapped[bool] = mapped_column(Boolean, default=False)
    is_declined: Mapped[bool] = mapped_column(Boolean, default=False)
    delivery_status: Mapped[DeliveryStatus] = mapped_column(
        _enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PENDING
    )
    delivery_error: Mapped[str | None] = mapped_column(Text)
    # When the invitation email was handed to the mail server (not when anyone answered).
    sent_at: Mapped[datetime | None]
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    is_purged: Mapped[bool] = mapped_column(Boolean, default=False)

    group: Mapped[Group] = relationship()
    cycle: Mapped[Cycle] = relationship()

    @property
    def email_refusal(self) -> str | None:
        """Why no invitation or reminder email may go to this person any more, if none may."""
        if self.is_purged or self.email is None:
            return "personal data removed"
        if self.is_completed:
            return "already completed"
        if self.is_declined:
            return "declined"
        return None

    @hybrid_property
    def is_awaiting_email(self) -> bool:
        """Still to be emailed: not answered, not declined, personal data not removed. In SQL
        too (`select(Invitation).where(Invitation.is_awaiting_email)`)."""
        return self.email_refusal is None

    @is_awaiting_email.inplace.expression
    @classmethod
    def _is_awaiting_email_expression(cls) -> ColumnElement[bool]:
        return and_(
            cls.is_purged.is_(False),
            cls.is_declined.is_(False),
            cls.is_completed.is_(False),
            cls.email.is_not(None),
        )

    def ensure_may_resend(self) -> None:
        """An invitation email may be sent again while the cycle is open, to a person whose
        address is still held (whether they have answered is not checked here: see
        `survey.mail.outbox.enqueue_resend`)."""
        self.cycle.ensure_open("invitations can be sent again")
        if self.is_purged or not self.email:
            raise UserError("this invitation's personal data has been removed")


class InvitationLink(Base):
    """A signed link that was emailed. Only a hash of the link's random nonce is stored, so the
    database alone cannot produce a working link; each email carries its own nonce."""

    __tablename__ = "invitation_links"

    nonce_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    invitation_id: Mapped[int] = mapped_column(
        ForeignKey("invitations.id", ondelete="CASCADE"), index=True
    )

    invitation: Mapped[Invitation] = relationship()


class Draft(Base):
    """Answers saved but not yet submitted, sealed (`survey.services.ballots`) and padded to the
    cycle's one box size: unreadable without the secret key. Deleted at submit, decline and close.
    """

    __tablename__ = "drafts"

    invitation_id: Mapped[int] = mapped_column(
        ForeignKey("invitations.id", ondelete="CASCADE"), primary_key=True
    )
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


class HiddenComment(Base):
    """A comment the CEO hid while reviewing a held report: it is left out of the report.

    It names the rating row by that row's own key (a random response id and the element), as
    `ratings` itself does, and carries nothing else: no time, no sequence, no text. Hiding adds
    a row here and never writes to `responses` or `ratings` (SPEC section 5: only sealing does).
    """

    __tablename__ = "hidden_comments"
    __table_args__ = (
        ForeignKeyConstraint(
            ["response_id", "element_code"],
            ["ratings.response_id", "ratings.element_code"],
            ondelete="CASCADE",
        ),
    )

    response_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    element_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)


class Ballot(Base):
    """A submitted response, sealed: the answers and the group, encrypted and padded to the cycle's
    one box size, with a random id and nothing that names, dates or orders a person. Written by a
    submit in the same transaction as the invitation's completion; opened, shuffled into
    `responses` and deleted by sealing at close. No copy of the database can read one."""

    __tablename__ = "ballots"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=random_response_id)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


# --------------------------------------------------------------------------------------------
# Responses: what was answered. No timestamp, no link to a person, random id. Written only by
# sealing (`survey.services.sealing`), from the cycle's ballots, in a shuffled order.
# --------------------------------------------------------------------------------------------


class Response(Base):
    __tablename__ = "responses"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=random_response_id)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    # Copied from the invitation at submission: the only way to compare groups.
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))

    ratings: Mapped[list[Rating]] = relationship(
        back_populates="response", cascade="all, delete-orphan"
    )


class Rating(Base):
    __tablename__ = "ratings"

    # A composite key, not a sequence: a serial id would record the order of submission.
    response_id: Mapped[str] = mapped_column(
        ForeignKey("responses.id", ondelete="CASCADE"), primary_key=True
    )
    element_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    scale_key: Mapped[str] = mapped_column(String(40))  # a scale key or "dont-know"
    score: Mapped[int | None] = mapped_column(Integer)  # None for "dont-know"
    rationale: Mapped[str | None] = mapped_column(Text)

    response: Mapped[Response] = relationship(back_populates="ratings")


# --------------------------------------------------------------------------------------------
# Email
# --------------------------------------------------------------------------------------------


class MessageKind(enum.StrEnum):
    INVITATION = "invitation"
    REMINDER = "reminder"
    REPORT = "report"
    ADMIN_LOGIN = "admin-login"
    ADMIN_INVITE = "admin-invite"
    PASSWORD_RESET = "password-reset"
    # "You said, we did" to everyone invited to a cycle (survey/services/you_said.py).
    FOLLOW_UP = "follow-up"
    SET_INVITE = "set-invite"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    # Not sent because it no longer applies (completed, declined, purged, cycle closed).
    CANCELLED = "cancelled"


class OutboxMessage(Base):
    """Every email passes through here. `dedupe_key` is unique per (cycle, invitation or
    recipient, kind, sequence), so no retry or double run ever enqueues a message twice."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(400), unique=True)
    kind: Mapped[MessageKind] = mapped_column(_enum(MessageKind, "message_kind"))
    cycle_id: Mapped[int | None] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"))
    invitation_id: Mapped[int | None] = mapped_column(
        ForeignKey("invitations.id", ondelete="CASCADE"), index=True
    )
    recipient: Mapped[str | None] = mapped_column(String(320))  # None once purged
    subject: Mapped[str] = mapped_column(String(400))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    # One stable Message-ID per row, so a duplicate delivery after a crash is recognisable.
    message_id: Mapped[str] = mapped_column(String(300), unique=True)
    status: Mapped[OutboxStatus] = mapped_column(
        _enum(OutboxStatus, "outbox_status"), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A dispatcher that claims a row holds it until then; a crashed one's claim simply lapses.
    claimed_until: Mapped[datetime | None]
    # The claiming dispatcher's random token: a row is sent only while the token is still its own.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --------------------------------------------------------------------------------------------
# Learning sets: trusts learning from each other (SPEC section 11)
# --------------------------------------------------------------------------------------------


class SetKind(enum.StrEnum):
    """A learning set (typically 5-8 trusts; its report needs 3 that share) or a peer review
    between 2-3 trusts (side by side, with challenge questions)."""

    LEARNING = "learning"
    PEER_REVIEW = "peer-review"


class MembershipState(enum.StrEnum):
    INVITED = "invited"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    LEFT = "left"


# The states each change to a membership may start from (asked by the pages that offer them).
MEMBERSHIP_TRANSITIONS_FROM: dict[str, tuple[MembershipState, ...]] = {
    "invite": (MembershipState.DECLINED, MembershipState.LEFT),
    "accept": (MembershipState.INVITED,),
    "decline": (MembershipState.INVITED,),
    "leave": (MembershipState.ACCEPTED,),
}
# A peer review is between two or three trusts.
PEER_REVIEW_MAX_TRUSTS = 3

learning_set_coordinators = Table(
    "learning_set_coordinators",
    Base.metadata,
    Column("set_id", ForeignKey("learning_sets.id", ondelete="CASCADE"), primary_key=True),
    Column("admin_id", ForeignKey("admin_users.id", ondelete="CASCADE"), primary_key=True),
)


class LearningSet(Base):
    """A named group of trusts in the deployment, run by one or more coordinators."""

    __tablename__ = "learning_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[SetKind] = mapped_column(_enum(SetKind, "set_kind"), default=SetKind.LEARNING)
    # The framework the set compares on: only cycles of this framework can be shared.
    framework_key: Mapped[str] = mapped_column(String(80), default="mat-assurance")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    coordinators: Mapped[list[AdminUser]] = relationship(
        secondary=learning_set_coordinators, order_by="AdminUser.email"
    )
    memberships: Mapped[list[SetMembership]] = relationship(
        back_populates="learning_set", cascade="all, delete-orphan", order_by="SetMembership.id"
    )

    @property
    def is_peer_review(self) -> bool:
        return self.kind == SetKind.PEER_REVIEW

    def is_coordinator(self, admin: AdminUser) -> bool:
        return any(c.id == admin.id for c in self.coordinators)

    def membership_of(self, trust: Trust) -> SetMembership | None:
        return next((m for m in self.memberships if m.trust_id == trust.id), None)

    @property
    def accepted(self) -> list[SetMembership]:
        return [m for m in self.memberships if m.state == MembershipState.ACCEPTED]


class SetMembership(Base):
    """A trust's place in a set, from the coordinator's invitation to its admin's answer.

    `letter` is drawn at random from the letters not yet used in the set when the trust is first
    invited, and kept: it names the trust in the set's report when it shares as a letter, the
    same in every cycle (so its movement can be followed), and says nothing about its name or
    when it joined."""

    __tablename__ = "set_memberships"
    __table_args__ = (
        UniqueConstraint("set_id", "trust_id", name="uq_set_memberships_set_trust"),
        UniqueConstraint("set_id", "letter", name="uq_set_memberships_set_letter"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("learning_sets.id", ondelete="CASCADE"))
    trust_id: Mapped[int] = mapped_column(ForeignKey("trusts.id", ondelete="CASCADE"), index=True)
    state: Mapped[MembershipState] = mapped_column(
        _enum(MembershipState, "membership_state"), default=MembershipState.INVITED
    )
    letter: Mapped[str] = mapped_column(String(4))
    # The admin the invitation was sent to.
    invited_email: Mapped[str] = mapped_column(String(320))
    invited_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]

    learning_set: Mapped[LearningSet] = relationship(back_populates="memberships")
    trust: Mapped[Trust] = relationship()

    @property
    def letter_name(self) -> str:
        return f"Trust {self.letter}"

    def can(self, action: str) -> bool:
        return self.state in MEMBERSHIP_TRANSITIONS_FROM[action]

    def ensure_can(self, action: str) -> None:
        if not self.can(action):
            raise UserError(f"cannot {action}: {self.trust.name} is {self.state.value} in this set")


class SetShare(Base):
    """A trust's decision to share one reported cycle with one set, by name or as its letter.
    Withdrawing deletes the row: the set's report no longer holds the cycle's figures."""

    __tablename__ = "set_shares"
    __table_args__ = (UniqueConstraint("set_id", "cycle_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    set_id: Mapped[int] = mapped_column(
        ForeignKey("learning_sets.id", ondelete="CASCADE"), index=True
    )
    trust_id: Mapped[int] = mapped_column(ForeignKey("trusts.id", ondelete="CASCADE"))
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"))
    as_name: Mapped[bool] = mapped_column(Boolean, default=False)
    shared_at: Mapped[datetime] = mapped_column(default=utcnow)

    learning_set: Mapped[LearningSet] = relationship()
    trust: Mapped[Trust] = relationship()
    cycle: Mapped[Cycle] = relationship()


class BenchmarkOptIn(Base):
    """A trust takes part in the deployment benchmark for a framework (its latest reported
    cycle's trust-wide figures, among every trust that opted in)."""

    __tablename__ = "benchmark_opt_ins"

    trust_id: Mapped[int] = mapped_column(
        ForeignKey("trusts.id", ondelete="CASCADE"), primary_key=True
    )
    framework_key: Mapped[str] = mapped_column(String(80), primary_key=True)
    opted_in_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReportFigure(Base):
    """One published figure of a stored report: an element in a shown group, or in `all` (the
    shown groups together), exactly as summary.csv publishes it. A hidden group has no row.
    Set reports and the benchmark read only these rows, never the answers."""

    __tablename__ = "report_figures"

    report_id: Mapped[int] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True
    )
    element_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    group_key: Mapped[str] = mapped_column(String(40), primary_key=True)  # a group's key or all
    group_label: Mapped[str] = mapped_column(String(120))
    responses: Mapped[int] = mapped_column(Integer)
    rated: Mapped[int] = mapped_column(Integer)  # answers with a score
    score_total: Mapped[int] = mapped_column(Integer)
    dont_know: Mapped[int] = mapped_column(Integer)
    # The counts per scale key, "red=1,amber-red=0,..." in scale order.
    counts: Mapped[str] = mapped_column(String(400))
    mean: Mapped[str] = mapped_column(String(8))  # as printed ('' when nothing was rated)


# --------------------------------------------------------------------------------------------
# Reports, audit, clock refusals
# --------------------------------------------------------------------------------------------


class Report(Base):
    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), unique=True)
    compiled_at: Mapped[datetime] = mapped_column(default=utcnow)

    files: Mapped[list[ReportFile]] = relationship(
        back_populates="report", cascade="all, delete-orphan", order_by="ReportFile.name"
    )

    def file(self, name: str) -> ReportFile | None:
        return next((f for f in self.files if f.name == name), None)


class ReportFile(Base):
    """A compiled output kept in the database, so every web worker can serve it."""

    __tablename__ = "report_files"

    report_id: Mapped[int] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(100))
    content: Mapped[bytes] = mapped_column(LargeBinary)

    report: Mapped[Report] = relationship(back_populates="files")


class ReportLink(Base):
    """A report recipient's personal read-only link to the web report (SPEC section 7).

    Only the SHA-256 of the link's random nonce is stored, so a copy of the database cannot
    produce a working link. A link works until `expires_at` (renewable) unless revoked.
    """

    __tablename__ = "report_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    recipient: Mapped[str] = mapped_column(String(320))  # a report recipient (leadership)
    nonce_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256, hex
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    cycle: Mapped[Cycle] = relationship()

    def is_valid(self, now: datetime) -> bool:
        return self.revoked_at is None and now < as_utc(self.expires_at)


class AuditEvent(Base):
    """Who did what to which cycle, and when. Never records anything about responses."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(320))  # an admin's email, "cli" or "scheduler"
    action: Mapped[str] = mapped_column(String(60))
    trust_id: Mapped[int | None] = mapped_column(ForeignKey("trusts.id", ondelete="CASCADE"))
    cycle_id: Mapped[int | None] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"))
    detail: Mapped[str] = mapped_column(Text, default="")


class ClockRefusal(Base):
    """Kept while the scheduler refuses to act because the clock it was given and the
    database's disagree (survey/services/clockcheck.py), so the cycle page can say why nothing
    happens; removed by the next check that agrees. One row at most."""

    __tablename__ = "clock_refusals"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)  # always "scheduler"
    job: Mapped[str] = mapped_column(String(60))  # the refused job's id, e.g. close-due-cycles
    given_at: Mapped[datetime]  # the time the job was to act as of
    database_at: Mapped[datetime]  # the database's clock at that moment


# --------------------------------------------------------------------------------------------
# Plans: leadership's agreed view, priorities and actions, and "you said, we did" (issue 18).
# Nothing here is about a respondent: a plan is leadership's own words, kept after a purge.
# --------------------------------------------------------------------------------------------


class PlanElement(Base):
    """One element of a cycle as leadership agreed it after the report: the rating agreed in
    discussion (a scale key, kept apart from the survey's figures), why, and whether the element
    is one of the trust's priorities."""

    __tablename__ = "plan_elements"

    cycle_id: Mapped[int] = mapped_column(
        ForeignKey("cycles.id", ondelete="CASCADE"), primary_key=True
    )
    element_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    agreed_key: Mapped[str | None] = mapped_column(String(40))  # a scale key (never dont-know)
    rationale: Mapped[str] = mapped_column(Text, default="")
    is_priority: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_by: Mapped[str] = mapped_column(String(320), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ActionStatus(enum.StrEnum):
    NOT_STARTED = "not-started"
    UNDER_WAY = "under-way"
    DONE = "done"
    DROPPED = "dropped"

    @property
    def label(self) -> str:
        return ACTION_STATUS_LABELS[self]


ACTION_STATUS_LABELS = {
    ActionStatus.NOT_STARTED: "Not started",
    ActionStatus.UNDER_WAY: "Under way",
    ActionStatus.DONE: "Done",
    ActionStatus.DROPPED: "Dropped",
}


class PlanAction(Base):
    """An action in the improvement plan, for one element of a cycle: what, who (free text: an
    owner needs no account), by when, how success is judged, and how far it has got."""

    __tablename__ = "plan_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    element_code: Mapped[str] = mapped_column(String(16))
    what: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(200), default="")
    due_on: Mapped[date | None]
    success_measure: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ActionStatus] = mapped_column(
        _enum(ActionStatus, "action_status"), default=ActionStatus.NOT_STARTED
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(320), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    notes: Mapped[list[ActionNote]] = relationship(
        back_populates="action",
        cascade="all, delete-orphan",
        order_by="(ActionNote.written_at, ActionNote.id)",
    )


class ActionNote(Base):
    """A dated note on an action's progress, by the admin who wrote it."""

    __tablename__ = "plan_action_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(
        ForeignKey("plan_actions.id", ondelete="CASCADE"), index=True
    )
    written_at: Mapped[datetime] = mapped_column(default=utcnow)
    author: Mapped[str] = mapped_column(String(320))
    text: Mapped[str] = mapped_column(Text)

    action: Mapped[PlanAction] = relationship(back_populates="notes")


class FollowUp(Base):
    """The cycle's "you said, we did" message: the words the CEO edits (the figures, findings
    and actions are filled in when it is rendered), and when it was queued. `queued_at` is set
    once: the message goes to everyone invited once, whatever is pressed or run again."""

    __tablename__ = "follow_ups"

    cycle_id: Mapped[int] = mapped_column(
        ForeignKey("cycles.id", ondelete="CASCADE"), primary_key=True
    )
    subject: Mapped[str] = mapped_column(String(200))
    opening: Mapped[str] = mapped_column(Text, default="")
    closing: Mapped[str] = mapped_column(Text, default="")
    updated_by: Mapped[str] = mapped_column(String(320), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime | None]
    queued_by: Mapped[str | None] = mapped_column(String(320))
    queued_count: Mapped[int] = mapped_column(Integer, default=0)
