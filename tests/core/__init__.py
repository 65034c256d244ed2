"""Tests of the shared core both images use: the operator/trainer contract and the trainer-shape table."""
