"""Reusable test helpers: real servers and collectors that several test packages share."""
