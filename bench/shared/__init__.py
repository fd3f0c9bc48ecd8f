"""Feeds whose sources share their words, and the clustering step measured on them."""
