"""The device restore in pure Python (standard library only): see engine.py."""
