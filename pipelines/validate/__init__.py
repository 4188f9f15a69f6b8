"""Validate stage: normalize OCR readings, cross-check them, match the roster, decide what a reviewer must see."""  # noqa: E501
