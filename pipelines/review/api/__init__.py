"""The console's routers (one module per part of the console), its typed dependencies (``deps``) and
its error answers (``errors``); ``pipelines.review.app.create_app`` puts them together."""
