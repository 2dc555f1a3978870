"""Evidence report: HTML/PDF, figures, comparison tables, provenance manifest."""
