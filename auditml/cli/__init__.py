"""The `auditml` command line: a thin shell over the SDK."""
