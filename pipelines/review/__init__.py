"""The reviewers' console: people correct the fields the validate stage could not accept.

``db`` holds the tables (engines and migrations: ``pipelines.db``), ``queries`` what other stages may
read of them, ``store`` what reviewers do (scoped, atomic claims, audited decisions), ``auth`` accounts
and logins; the web app (``app``) sits on top of these.
"""
