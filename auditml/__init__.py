"""auditml: the evidence layer for machine learning under GDPR and the EU AI Act."""
