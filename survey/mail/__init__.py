"""Email: templates rendered into an outbox, and a dispatcher that sends it (SPEC section 7).

- `survey.mail.outbox`: enqueue invitations, reminders, resends and report emails; `dispatch`.
- `survey.mail.reminders`: when a cycle's reminders fall due, in the trust's time zone.
- `survey.mail.messages`: rendering and building `EmailMessage`s.
- `survey.mail.transport`: file and SMTP transports from `MAIL_URL`.
"""
