"""Helpers for the web tests: a live site served by uvicorn, and a Chromium to drive it."""
