"""Reliability tests: real server processes under faults and load."""
