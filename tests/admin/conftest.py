"""Fixtures for the CEO's pages: admin accounts and a signed-in browser."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from survey.models import AdminUser, Trust
from survey.services.accounts import hash_password
from tests.admin.helpers import PASSWORD, Browser


@pytest.fixture
def make_admin(session: Session) -> Callable[..., AdminUser]:
    def make(
        email: str = "ceo@oak.example",
        *,
        trusts: list[Trust] | None = None,
        is_superuser: bool = False,
        password: str = PASSWORD,
    ) -> AdminUser:
        admin = AdminUser(
            email=email,
            password_hash=hash_password(password),
            is_superuser=is_superuser,
            trusts=list(trusts or []),
        )
        session.add(admin)
        session.commit()
        return admin

    return make


@pytest.fixture
def browser(client: FlaskClient) -> Browser:
    return Browser(client)


@pytest.fixture
def signed_in(
    browser: Browser, make_admin: Callable[..., AdminUser], make_trust: Callable[..., Trust]
) -> tuple[Browser, AdminUser, Trust]:
    """A CEO of one trust, signed in."""
    trust = make_trust()
    admin = make_admin(trusts=[trust])
    response = browser.sign_in(admin.email)
    assert response.status_code == 303
    return browser, admin, trust
