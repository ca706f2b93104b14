"""Notifications through Apprise (mail, Slack, Matrix, ntfy, webhooks …).

``targets``: the configured Apprise URLs and the redacted labels that stand for them in logs
and in the database; ``outbox``: choosing a pass's new events and batching them into messages
(one per kind per target); ``send``: delivering due messages, with a timeout and back-off;
``step``: the end-of-pass hook. Kept free of imports here: ``monitor.settings`` loads
``targets`` to validate the URLs.
"""
