"""Experiments: each turns a validated config into run folders."""
