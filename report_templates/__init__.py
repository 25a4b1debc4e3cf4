"""Jinja2 templates and CSS of the PDF report (shipped as auditml.report_templates)."""
