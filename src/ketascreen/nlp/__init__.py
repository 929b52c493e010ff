"""Free text: screening facts from clinical notes and people's own words."""
