"""On-disk formats, each declared once with construct; their wire numbers in wire_numbers (stdlib only)."""
