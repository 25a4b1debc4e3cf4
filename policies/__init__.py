"""The shipped rule set: data only (YAML rules, regimes.yaml, JSONL fixtures), as auditml.policies."""
