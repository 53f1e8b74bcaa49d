"""Views for respondents (filled in by the respondent's-path work)."""
