"""Offline speech-to-text for the SIP gateway tests (see stt.py)."""
