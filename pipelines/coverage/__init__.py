"""Coverage: how much of each district, school, grade and year is digitized, reviewed and issued."""
