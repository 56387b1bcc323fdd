"""Rigs: everything one profile's scenario sets up around its system under test."""
