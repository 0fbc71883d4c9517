"""The study's report: costed results per labelling route (routes) and the HTML page (html)."""
