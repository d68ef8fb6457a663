"""The mail outbox: messages are rows in PostgreSQL, written in the caller's unit of work.

With SMTP configured, pending messages are sent right after the commit that queued them (and by
`huice auth mail-deliver` for retries); a delivered message's body is then blanked so no token lingers.
Without SMTP, the outbox *is* the dev mailbox that `huice auth mailbox` shows.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from sqlalchemy.orm import Session

from platform_core.db import on_commit
from platform_core.ids import utcnow
from user_auth import repository as repo
from user_auth.config import AuthEnv, UserAuthSettings

log = logging.getLogger(__name__)
DELIVERED_BODY = "(delivered by SMTP; body removed)"


def queue_mail(session: Session, env: AuthEnv, *, to: str, subject: str, body: str, kind: str) -> None:
    repo.add(session, repo.OutboxMail(to_address=to, subject=subject, body=body, kind=kind))
    if env.settings.smtp_host:
        on_commit(session, lambda: deliver_pending(env))


def deliver_pending(env: AuthEnv) -> int:
    """Send every pending message over SMTP; returns how many were sent. No-op without SMTP."""
    if not env.settings.smtp_host:
        return 0
    sent = 0
    with env.db.transaction() as session:
        for mail in repo.pending_mail(session):
            mail.attempts += 1
            try:
                _send(env.settings, mail)
            except (OSError, smtplib.SMTPException) as exc:
                mail.last_error = type(exc).__name__
                log.warning("mail delivery failed", extra={"mail_id": str(mail.id), "error": type(exc).__name__})
                continue
            mail.sent_at = utcnow()
            mail.body = DELIVERED_BODY
            mail.last_error = None
            sent += 1
    return sent


def _send(settings: UserAuthSettings, mail: repo.OutboxMail) -> None:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = mail.to_address
    message["Subject"] = mail.subject
    message.set_content(mail.body)
    assert settings.smtp_host is not None
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
        smtp.ehlo()
        if settings.smtp_starttls and smtp.has_extn("starttls"):
            smtp.starttls()
            smtp.ehlo()
        if settings.smtp_user and settings.smtp_password is not None:
            smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
        smtp.send_message(message)
