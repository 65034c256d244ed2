"""Hostile and sloppy input (issue 14): job files and datasets as a careless user or an attacker writes them.

Every case asserts the exit code, the named file/line/row/column or field, and that no traceback escaped.
"""
