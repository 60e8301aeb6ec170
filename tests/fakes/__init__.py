"""Fakes of Pi-only modules (``lgpio``, ``picamera2``) for tests.

Tests put this directory on ``sys.path`` (see the fixtures in the test
modules), so ``import lgpio`` / ``import picamera2`` find these instead.
"""
