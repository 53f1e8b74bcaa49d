"""Views for the CEO's pages (filled in by the admin pages work)."""
