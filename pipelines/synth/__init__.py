"""Synthetic district: roster, ground truth and scanned-looking học bạ pages.

Everything here is made up from a seed (no real person's data) and obeys the
rules in data_contracts/rules, so later stages can be measured against it.
Entry point: ``pipelines.synth.generate.generate_district``.
"""
