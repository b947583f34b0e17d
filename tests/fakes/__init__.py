"""Fakes injected into driftmon in tests (no patching)."""
