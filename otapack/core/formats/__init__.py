"""On-disk formats, each declared once with construct."""
