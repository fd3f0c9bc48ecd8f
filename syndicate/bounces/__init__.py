"""Bounces and complaints: from SMTP answers, the bounce mailbox and provider webhooks.

`record` marks subscriptions and keeps the log; `verp` signs the Return-Path that names a
delivery; `reports` reads delivery status notifications (RFC 3464) and complaint reports
(ARF, RFC 5965); `mailbox` reads them over IMAP or POP3; `providers` checks and reads the
webhooks of Amazon SES (through SNS), SendGrid, Postmark and Mailgun.
"""
