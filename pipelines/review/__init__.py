"""The reviewers' console: people correct the fields the validate stage could not accept.

``db`` holds the tables, engines and migrations, ``store`` what reviewers do (scoped, atomic claims,
audited decisions), ``auth`` accounts and logins; the web app (``app``) sits on top of these.
"""
