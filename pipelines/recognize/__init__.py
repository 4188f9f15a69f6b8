"""Recognizers: a cell's crop in, ranked candidate texts with probabilities out (``base.Recognizer``)."""
